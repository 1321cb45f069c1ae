"""What every request passes through (endpoint/guards.py), over real HTTP on a raw socket: a body
with no length is counted while it streams and refused at 1 MB, before it has all been sent."""

from __future__ import annotations

import asyncio
import re
import socket
from urllib.parse import urlsplit

import pytest

from endpoint.guards import TOO_LARGE
from tests.endpoint.test_api import ID

CHUNK = b"x" * 65_536


def post_unfinished(base_url: str, path: str, megabytes: int = 2) -> tuple[int, bytes]:
    """POSTs `megabytes` of chunks (Transfer-Encoding: chunked, no Content-Length) and never the
    last, empty chunk: the body is never complete. Returns the answer's status and body, read
    then; a socket timeout (10 s) if none comes."""
    where = urlsplit(base_url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        for _ in range(megabytes * 1_000_000 // len(CHUNK) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65_536)
        head_part, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head_part).group(1))
        while len(body) < length:
            body += sock.recv(65_536)
        return int(head_part.split()[1]), body


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/slack/events", "/slack/events"),
        ("/slack/interactivity", "/slack/interactivity"),
        ("/pagerduty/webhooks", "/pagerduty/webhooks"),
        (
            f"/handovers/{ID}/incidents/Q1DISK7/status",
            "/handovers/{handover_id}/incidents/{incident_id}/status",
        ),
    ],
)
async def test_a_body_without_a_length_is_refused_at_1_mb_before_it_ends(endpoint, path, route):
    status, body = await asyncio.to_thread(post_unfinished, endpoint.url, path)
    assert status == 413
    assert body.decode() == f'{{"detail":"{TOO_LARGE}"}}'
    async with endpoint.http() as http:
        metrics = (await http.get("/metrics")).text
    counted = f'handover_endpoint_requests_total{{method="POST",route="{route}",status="413"}} 1.0'
    assert counted in metrics, "the metrics count the refusal, under its route"
