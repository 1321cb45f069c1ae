"""The sandbox's TLS: a local CA kept in the data directory, and a server certificate from it.

The PagerDuty client refuses a base URL that is not https, so the sandbox speaks TLS only.
The CA is made once and reused on every start (clients keep trusting `<data-dir>/ca.pem`);
the server certificate is issued afresh at each start for localhost, 127.0.0.1 and ::1.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServerTLS:
    ca_file: Path
    """The CA certificate clients trust (`verify=`, `cafile=`)."""
    cert_file: Path
    """The server certificate chain, for uvicorn's `ssl_certfile`."""
    key_file: Path
    """The server private key, for uvicorn's `ssl_keyfile`."""


def load_or_create_ca(data_dir: Path) -> trustme.CA:
    cert_path = data_dir / "ca.pem"
    key_path = data_dir / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    ca = trustme.CA(organization_name="oncall-handover sandbox")
    _write_private(key_path, ca.private_key_pem.bytes())
    cert_path.write_bytes(ca.cert_pem.bytes())
    return ca


def prepare_tls(data_dir: str | Path, extra_names: tuple[str, ...] = ()) -> ServerTLS:
    """Makes (or reuses) the CA under `data_dir` and issues the server certificate.

    `extra_names`: more host names the certificate is valid for (e.g. `sandbox` in Compose).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    ca = load_or_create_ca(data_dir)
    leaf = ca.issue_cert(*SERVER_NAMES, *extra_names)
    cert_file = data_dir / "server.pem"
    key_file = data_dir / "server-key.pem"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write_private(key_file, leaf.private_key_pem.bytes())
    return ServerTLS(ca_file=data_dir / "ca.pem", cert_file=cert_file, key_file=key_file)


def client_ssl_context(ca_file: str | Path) -> ssl.SSLContext:
    """An SSL context that trusts the sandbox CA (what `slack_sdk.WebClient(ssl=...)` takes)."""
    return ssl.create_default_context(cafile=str(ca_file))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
