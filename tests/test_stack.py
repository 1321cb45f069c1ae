"""The test and bench stack (tests/reliability/stack.py) on real processes: what it calls up is
its own, not whatever happens to listen on the port it picked."""

from __future__ import annotations

import socket
import threading

import httpx

from tests.reliability.stack import running_stack

HTTP2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""What a gRPC port (the dev server's) sends first: not an HTTP/1.1 status line."""


def test_an_endpoint_port_taken_meanwhile_is_traded_for_another(tmp_path):
    with running_stack(tmp_path, workers=0, endpoint=False) as stack:
        taken = stack.endpoint_port
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", taken))
            squatter.listen()

            def answer() -> None:
                while True:
                    try:
                        connection, _ = squatter.accept()
                    except OSError:
                        return
                    with connection:
                        connection.sendall(HTTP2_SETTINGS)

            threading.Thread(target=answer, daemon=True).start()
            stack.start_endpoint()

            assert stack.endpoint_port != taken
            assert httpx.get(f"{stack.endpoint_url}/healthz", timeout=5).json() == {"ok": True}
