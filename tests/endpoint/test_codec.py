"""The codec endpoint (Temporal's remote codec protocol) on the endpoint's app, in process: it needs
no Temporal server, only the keys. The payloads here are bound to no handover, so only an observer
may decode them; decoding a handover's own payloads, by its readers only, is in
tests/e2e/test_encryption.py."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from endpoint.app import create_app
from endpoint.auth import Caller, TokenStore
from endpoint.codec import COOKIE, Sessions
from handover.codec import EncryptionCodec
from handover.settings import Settings
from tests.conftest import OBSERVER, OUTSIDER, TOKENS, token_store

UI = "http://localhost:8233"
"""The Temporal UI's origin, allowed in HANDOVER_CODEC_CORS_ORIGINS."""
ELSEWHERE = "https://evil.example"
KEY = os.urandom(32)
STATUS = {"actor": "alice@novalien.com", "hypothesis": "pool exhausted on tenant db-7 after the deploy"}


def settings_for(tmp_path: Path, encrypted: bool = True) -> Settings:
    keys = SecretStr(f"2026-05={base64.b64encode(KEY).decode()}") if encrypted else None
    return Settings(data_dir=tmp_path, payload_keys=keys, codec_cors_origins=[UI], observers=[OBSERVER])


def http_for(settings: Settings, who: str | None = None, origin: str | None = None) -> httpx.AsyncClient:
    headers = {"X-Namespace": settings.temporal_namespace}
    if who:
        headers["Authorization"] = f"Bearer {TOKENS[who]}"
    if origin:
        headers["Origin"] = origin
    app = create_app(settings, client=None, tokens=token_store())
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://endpoint", headers=headers)


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An observer's token: reads every handover, and payloads bound to none."""
    async with http_for(settings_for(tmp_path), who=OBSERVER) as http:
        yield http


def plain() -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([STATUS])[0]


def body(*payloads: Payload) -> dict:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def payloads(answer: httpx.Response) -> list[Payload]:
    return [json_format.ParseDict(payload, Payload()) for payload in answer.json()["payloads"]]


async def test_decode_shows_the_stored_payload(admin):
    encrypted = (await EncryptionCodec({"2026-05": KEY}).encode([plain()]))[0]

    answer = await admin.post("/codec/decode", json=body(encrypted, plain()))

    assert answer.status_code == 200, answer.text
    assert payloads(answer) == [plain(), plain()], "encrypted ones decrypted, plain ones as they are"


async def test_encode_then_decode_round_trip(tmp_path):
    async with http_for(settings_for(tmp_path), who="service:pipeline") as http:
        encoded = await http.post("/codec/encode", json=body(plain()))
        assert encoded.status_code == 200, encoded.text
        [stored] = payloads(encoded)
        assert stored.metadata["encoding"] == b"binary/encrypted"
        assert b"db-7" not in stored.SerializeToString()
        not_theirs = await http.post("/codec/decode", json=encoded.json())
    async with http_for(settings_for(tmp_path), who=OBSERVER) as http:
        decoded = await http.post("/codec/decode", json=encoded.json())

    assert payloads(not_theirs) == [stored], "bound to no handover: back as it came, but to an observer"
    assert payloads(decoded) == [plain()]


async def test_a_payload_of_no_handover_stays_encrypted_for_an_admin(tmp_path):
    encrypted = (await EncryptionCodec({"2026-05": KEY}).encode([plain()]))[0]
    async with http_for(settings_for(tmp_path), who=OUTSIDER) as http:
        answer = await http.post("/codec/decode", json=body(encrypted, plain()))
    assert answer.status_code == 200, answer.text
    assert payloads(answer) == [encrypted, plain()]


async def test_an_empty_list_is_an_empty_list(admin):
    answer = await admin.post("/codec/decode", json={"payloads": []})
    assert answer.json() == {"payloads": []}


@pytest.mark.parametrize("origin", [None, ELSEWHERE, UI], ids=["no-origin", "elsewhere", "the-temporal-ui"])
@pytest.mark.parametrize("route", ["/codec/decode", "/codec/encode"])
async def test_without_a_token_the_codec_is_refused_whatever_the_origin(tmp_path, origin, route):
    encrypted = (await EncryptionCodec({"2026-05": KEY}).encode([plain()]))[0]
    async with http_for(settings_for(tmp_path), origin=origin) as http:
        answer = await http.post(route, json=body(encrypted))
        wrong_token = await http.post(
            route, json=body(encrypted), headers={"Authorization": "Bearer not-a-token"}
        )
        wrong_cookie = await http.post(
            route, json=body(encrypted), headers={"Cookie": f"{COOKIE}=not-a-token"}
        )
    assert answer.status_code == 401
    assert answer.json()["detail"].startswith("Send your token as `Authorization: Bearer <token>` (the CLI")
    assert "sign in to the handover console" in answer.json()["detail"]
    assert wrong_token.status_code == 401 and wrong_cookie.status_code == 401
    assert "db-7" not in answer.text + wrong_token.text + wrong_cookie.text


async def test_the_temporal_ui_decodes_with_the_cookie_the_console_sets(tmp_path):
    encrypted = (await EncryptionCodec({"2026-05": KEY}).encode([plain()]))[0]
    async with http_for(settings_for(tmp_path), who=OBSERVER) as console:
        opened = await console.post("/codec/session")
    assert opened.status_code == 204, opened.text
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/codec" in cookie and "SameSite=strict" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower(), "gone when the browser closes"
    assert TOKENS[OBSERVER] not in cookie, "the cookie is not the token"

    async with http_for(settings_for(tmp_path), origin=UI) as ui:  # no Authorization: the cookie only
        ui.cookies.set(COOKIE, opened.cookies[COOKIE])
        preflight = await ui.options(
            "/codec/decode",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        answer = await ui.post("/codec/decode", json=body(encrypted))
        as_a_form = await ui.post(
            "/codec/decode", content=b"payloads=1", headers={"Content-Type": "text/plain"}
        )
        closed = await ui.delete("/codec/session")

    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == UI
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == UI
    assert payloads(answer) == [plain()]
    assert as_a_form.status_code == 415, "a cookie is spent only on JSON, which a browser preflights"
    assert closed.status_code == 204 and 'handover_codec=""' in closed.headers["set-cookie"]


async def test_a_cross_site_cookie_for_a_temporal_ui_elsewhere(tmp_path):
    settings = settings_for(tmp_path).model_copy(update={"codec_cookie_cross_site": True})
    async with http_for(settings, who=OBSERVER) as console:
        opened = await console.post("/codec/session")
    assert "SameSite=none" in opened.headers["set-cookie"] and "Secure" in opened.headers["set-cookie"]


async def test_the_cookie_is_given_for_a_bearer_token_only(tmp_path):
    async with http_for(settings_for(tmp_path)) as anonymous:
        anonymous.cookies.set(COOKIE, TOKENS[OBSERVER])
        answer = await anonymous.post("/codec/session")
    assert answer.status_code == 401 and "set-cookie" not in answer.headers


async def cookie_of(settings: Settings, who: str) -> str:
    async with http_for(settings, who=who) as console:
        return (await console.post("/codec/session")).cookies[COOKIE]


async def test_the_cookie_decodes_as_its_person_and_does_nothing_else(tmp_path):
    """Dave's cookie is Dave (a payload of no handover stays encrypted for him); it is no bearer
    token; altered, expired, or once his token is withdrawn, it is refused."""
    settings = settings_for(tmp_path)
    encrypted = (await EncryptionCodec({"2026-05": KEY}).encode([plain()]))[0]
    daves = await cookie_of(settings, OUTSIDER)
    claims, _, signature = daves.partition(".")
    as_erin = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(claims).replace(OUTSIDER.encode(), OBSERVER.encode())
    ).decode()
    expired = Sessions({"2026-05": KEY}).issue(Caller("admin", OUTSIDER), now=time.time() - 13 * 3600)

    async with http_for(settings, origin=UI) as ui:

        async def decode_with(cookie: str) -> httpx.Response:
            return await ui.post(
                "/codec/decode", json=body(encrypted), headers={"Cookie": f"{COOKIE}={cookie}"}
            )

        own = await decode_with(daves)
        altered = await decode_with(f"{as_erin}.{signature}")
        old = await decode_with(expired)
        as_bearer = await ui.get("/me", headers={"Authorization": f"Bearer {daves}"})
    withdrawn = create_app(settings, client=None, tokens=TokenStore([]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=withdrawn), base_url="http://endpoint"
    ) as http:
        gone = await http.post("/codec/decode", json=body(encrypted), headers={"Cookie": f"{COOKIE}={daves}"})

    assert own.status_code == 200 and payloads(own) == [encrypted], "decoded as Dave: not his to read"
    for refused in (altered, old, gone):
        assert refused.status_code == 401 and "codec cookie is not valid here" in refused.json()["detail"]
    assert as_bearer.status_code == 401, "the cookie is no bearer token"


async def test_no_cors_for_other_origins_or_other_routes(tmp_path):
    async with http_for(settings_for(tmp_path)) as http:
        preflight = await http.options(
            "/codec/decode",
            headers={"Origin": ELSEWHERE, "Access-Control-Request-Method": "POST"},
        )
        health = await http.get("/healthz", headers={"Origin": UI})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in health.headers


async def test_another_namespace_is_refused(admin):
    answer = await admin.post("/codec/decode", json=body(plain()), headers={"X-Namespace": "payments"})
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        "This endpoint encodes and decodes payloads of namespace 'default' only, not 'payments'."
    )


@pytest.mark.parametrize(
    "content, says",
    [
        (b"not json", "Failed to load JSON"),
        (b'{"payloads": "none"}', "payloads"),
        (b'{"payload": []}', "no field named"),
        (b"\xff\xfe", "in protobuf JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "in protobuf JSON"),
    ],
    ids=["not-json", "not-a-list", "unknown-field", "not-utf8", "deeply-nested"],
)
async def test_bad_bodies_are_422_with_a_sentence(admin, content, says):
    answer = await admin.post("/codec/decode", content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail.startswith('The body must be {"payloads": [...]} in protobuf JSON') and says in detail
    assert "Traceback" not in answer.text


async def test_a_payload_of_an_unknown_key_is_422_naming_the_key_id(admin):
    retired = (await EncryptionCodec({"2026-04": os.urandom(32)}).encode([plain()]))[0]
    answer = await admin.post("/codec/decode", json=body(retired))
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("Cannot decode: a payload is encrypted with key id '2026-04'")


async def test_the_codec_routes_are_measured(admin):
    await admin.post("/codec/decode", json=body(plain()))
    metrics = (await admin.get("/metrics")).text
    assert 'handover_endpoint_requests_total{method="POST",route="/codec/decode",status="200"} 1.0' in metrics


async def test_with_encryption_off_the_routes_say_so(tmp_path):
    async with http_for(settings_for(tmp_path, encrypted=False), who="alice@novalien.com") as http:
        for route in ("/codec/decode", "/codec/encode", "/codec/session"):
            answer = await http.post(route, json=body(plain()))
            assert answer.status_code == 404
            assert answer.json()["detail"].startswith("Payload encryption is off here")
        schema = (await http.get("/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/codec")]
