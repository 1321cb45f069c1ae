"""What every request and answer passes through (endpoint/guards.py), over real HTTP: a body with no
length is counted while it streams and refused at 1 MB, before it has all been sent (on a raw
socket); every answer carries the security headers; /docs runs no third-party script, and the
console and /docs work under the Content-Security-Policy in a real browser."""

from __future__ import annotations

import asyncio
import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import async_playwright

from endpoint.app import create_app
from tests.conftest import TOKENS, token_store
from tests.endpoint.test_api import ID
from tests.endpoint.test_codec import settings_for
from tests.endpoint.test_console import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.serving import serving

CHUNK = b"x" * 65_536
TOO_LARGE = '{"detail":"The body is larger than 1 MB."}'
"""The answer, as it was before bodies were counted while they stream (for a Content-Length)."""


def post_unfinished(
    base_url: str, path: str, headers: dict[str, str] | None = None, megabytes: int = 2
) -> tuple[int, bytes]:
    """POSTs `megabytes` of chunks (Transfer-Encoding: chunked, no Content-Length) and never the
    last, empty chunk: the body is never complete. Returns the answer's status and body, read
    then; a socket timeout (10 s) if none comes."""
    where = urlsplit(base_url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        more = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
            f"{more}Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        for _ in range(megabytes * 1_000_000 // len(CHUNK) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65_536)
        except TimeoutError:
            raise AssertionError(f"no answer within 10 s to an unfinished body of {megabytes} MB") from None
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
    assert body.decode() == TOO_LARGE
    async with endpoint.http() as http:
        metrics = (await http.get("/metrics")).text
    counted = f'handover_endpoint_requests_total{{method="POST",route="{route}",status="413"}} 1.0'
    assert counted in metrics, "the metrics count the refusal, under its route"


async def test_the_codec_s_body_is_counted_too(endpoint, tmp_path):
    """The codec (on when payloads are encrypted) reads its body itself."""
    app = create_app(settings_for(tmp_path), client=endpoint.client, tokens=token_store())
    alice = {"Authorization": f"Bearer {TOKENS['alice@novalien.com']}"}
    async with serving(app) as url:
        status, body = await asyncio.to_thread(post_unfinished, url, "/codec/decode", alice)
    assert (status, body.decode()) == (413, TOO_LARGE)


SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
BOB = {"Authorization": f"Bearer {TOKENS['bob@novalien.com']}"}
KINDS = [
    ("the console page", "GET", "/", {}, None, 200),
    ("a console asset", "GET", "/static/console.js", {}, None, 200),
    ("the API docs", "GET", "/docs", {}, None, 200),
    ("the API docs' script", "GET", "/docs/swagger-ui-bundle.js", {}, None, 200),
    ("the OpenAPI document", "GET", "/openapi.json", {}, None, 200),
    ("a JSON answer of the API", "GET", "/me", BOB, None, 200),
    ("the health check", "GET", "/healthz", {}, None, 200),
    ("no token (401)", "GET", "/me", {}, None, 401),
    ("no such file (404)", "GET", "/static/secrets.txt", {}, None, 404),
    ("FastAPI's own docs, turned off (404)", "GET", "/redoc", {}, None, 404),
    (
        "a body over 1 MB (413)",
        "POST",
        f"/handovers/{ID}/incidents/Q1DISK7/status",
        BOB,
        b"x" * 2_000_000,
        413,
    ),
    ("a malformed body (422)", "POST", f"/handovers/{ID}/incidents/Q1DISK7/status", BOB, b"{", 422),
]


@pytest.mark.parametrize(
    ("kind", "method", "path", "headers", "body", "status"), KINDS, ids=[k[0] for k in KINDS]
)
async def test_every_kind_of_answer_carries_the_security_headers(
    endpoint, kind, method, path, headers, body, status
):
    async with endpoint.http() as http:
        sent = {**headers, "Content-Type": "application/json"} if body is not None else headers
        answer = await http.request(method, path, headers=sent, content=body)
    assert answer.status_code == status, answer.text[:300]
    assert {name: answer.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


async def test_the_docs_load_nothing_from_another_origin(endpoint):
    async with endpoint.http() as http:
        page = (await http.get("/docs")).text
        sources = re.findall(r"<(?:script|link)\b[^>]*?\b(?:src|href)=\"([^\"]*)\"", page)
        assert sources, "the page loads its scripts and styles"
        assert all(source.startswith("/") and not source.startswith("//") for source in sources), sources
        assert "<script>" not in page and "<style" not in page and " style=" not in page, "nothing inline"
        for source in sources:
            assert (await http.get(source)).status_code == 200, source


async def test_the_console_and_the_docs_work_under_the_content_security_policy(endpoint):
    """In Chromium: the policy refuses nothing either page needs, and nothing leaves the origin."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = await browser.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda error: refused.append(str(error)))
        elsewhere: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(endpoint.url) else elsewhere.append(r.url))

        await page.goto(f"{endpoint.url}/docs")
        operations = page.locator(".opblock")
        await operations.first.wait_for(timeout=20_000)
        async with endpoint.http() as http:
            schema = (await http.get("/openapi.json")).json()
        expected = sum(len(methods) for methods in schema["paths"].values())
        assert await operations.count() == expected, "every operation of the API is shown"
        await page.locator(".opblock-summary", has_text="/healthz").click()
        await page.get_by_role("button", name="Try it out").click()
        await page.get_by_role("button", name="Execute").click()
        await page.locator(".live-responses-table .response-col_status", has_text="200").wait_for()

        await page.goto(f"{endpoint.url}/")
        await page.get_by_label("Your token").fill(TOKENS["bob@novalien.com"])
        await page.get_by_label("Your token").press("Enter")
        await page.get_by_test_id("actor").filter(has_text="bob@novalien.com").wait_for(timeout=20_000)
        await browser.close()
    assert refused == [], refused
    assert elsewhere == [], elsewhere


async def test_a_server_error_carries_the_security_headers_too(settings):
    """Starlette answers an unhandled exception outside every middleware the app adds: the headers
    are put on outside that too. A route that fails on purpose, added to a real app."""
    app = create_app(settings, client=None, tokens=token_store())

    @app.get("/fails-on-purpose")
    async def fails() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as http:
        answer = await http.get("/fails-on-purpose")
    assert answer.status_code == 500 and "a bug" not in answer.text
    assert {name: answer.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
