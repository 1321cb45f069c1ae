"""The Temporal connection does TLS as configured: the frontend's certificate is checked against
TEMPORAL_TLS_CA under TEMPORAL_TLS_SERVER_NAME, and the client certificate is presented (mTLS).

No Temporal server here speaks TLS, so a TLS listener of the test's own stands in for the
frontend: it completes the handshake, records what the client presented, and closes (the gRPC
call after it fails, as expected)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from pathlib import Path

import pytest
import trustme

from handover.settings import Settings
from handover.temporal import connect


class Frontend:
    """Accepts one TLS connection that must present a client certificate of `ca`."""

    def __init__(self, ca: trustme.CA, name: str) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(name).configure_cert(self.context)
        ca.configure_trust(self.context)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.set_alpn_protocols(["h2"])
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.client_names: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        # Every connection is answered (the client may try again, e.g. when a loaded machine made
        # its first handshake slow): one left unaccepted would leave the client waiting forever.
        self.listener.settimeout(30)
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                raw.settimeout(10)
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    subject = dict(part[0] for part in tls.getpeercert()["subject"])
                    self.client_names.append(subject.get("commonName", ""))
                    tls.recv(1)  # the client's HTTP/2 preface, then we hang up
            except (OSError, ssl.SSLError) as error:
                self.errors.append(str(error))


def write(tmp_path: Path, ca: trustme.CA) -> dict[str, str]:
    client = ca.issue_cert("handover-worker", common_name="handover-worker")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    (tmp_path / "client.pem").write_bytes(b"".join(blob.bytes() for blob in client.cert_chain_pems))
    (tmp_path / "client.key").write_bytes(client.private_key_pem.bytes())
    return {
        "temporal_tls_ca": tmp_path / "ca.pem",
        "temporal_tls_cert": tmp_path / "client.pem",
        "temporal_tls_key": tmp_path / "client.key",
    }


async def test_mutual_tls_presents_the_client_certificate_to_a_frontend_our_ca_signed(tmp_path):
    ca = trustme.CA()
    frontend = Frontend(ca, "temporal.internal")
    settings = Settings(
        temporal_address=f"127.0.0.1:{frontend.port}",
        temporal_tls_server_name="temporal.internal",
        **write(tmp_path, ca),
    )
    with pytest.raises(RuntimeError):  # the stand-in speaks no gRPC
        await asyncio.wait_for(connect(settings), timeout=60)
    assert frontend.client_names and set(frontend.client_names) == {"handover-worker"}, frontend.errors


async def test_a_frontend_certificate_from_another_ca_is_refused(tmp_path):
    frontend = Frontend(trustme.CA(), "temporal.internal")  # not the CA the settings trust
    settings = Settings(
        temporal_address=f"127.0.0.1:{frontend.port}",
        temporal_tls_server_name="temporal.internal",
        **write(tmp_path, trustme.CA()),
    )
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(connect(settings), timeout=60)
    assert frontend.client_names == []
