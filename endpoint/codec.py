"""The codec endpoint: Temporal's remote codec protocol, so that the Temporal UI and
`temporal workflow show` show encrypted payloads as what people typed. Served only when
HANDOVER_PAYLOAD_KEYS is set (otherwise every route answers 404: there is nothing to decode).

    POST /codec/decode, POST /codec/encode     body and answer: {"payloads": [...]}, protobuf JSON
    POST /codec/session, DELETE /codec/session the browser's codec cookie (the console sets it)

The UI takes TEMPORAL_CODEC_ENDPOINT=<endpoint>/codec and the CLI takes
`--codec-endpoint <endpoint>/codec --codec-auth "Bearer <token>"`; both append /decode or /encode and
send the namespace in X-Namespace.

Who may call: always someone with a token of ours. The CLI sends it as a bearer token. A browser
cannot: the Temporal UI sends no header of ours, so signing in to the console also gives that
browser a codec cookie, and the UI sends it when its codec setting "Include cross-origin
credentials" is on (docs/threat-model.md, "The Temporal UI"). The cookie is not the token: it names
its person and an expiry (12 hours), signed with a key derived from the payload keys, so it decodes
and does nothing else, on every endpoint replica, and ends with its person's tokens. HttpOnly, for
/codec only, and a session cookie (the browser forgets it when it closes). An Origin header proves
nothing (any client can send one): HANDOVER_CODEC_CORS_ORIGINS only lets those pages read the
answers.

What a caller gets back: a payload is decrypted only if the caller may read the handover it is bound
to (handover/codec.py binds each payload to its workflow id; handover/access.py says who may read);
any other payload comes back as it was sent, still encrypted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from endpoint.auth import Caller, caller, identified
from handover.codec import ENCRYPTED, UndecryptablePayload, bound_to

COOKIE = "handover_codec"
COOKIE_LIFETIME = 12 * 3600
"""Seconds: a working day and then some; signing in to the console again renews it."""


class Sessions:
    """Codec cookies: `<base64 of {"kind", "name", "until"}>.<HMAC-SHA256>`, under keys derived from
    the payload keys (the first signs, every one verifies: a key rotation keeps cookies working)."""

    def __init__(self, keyring: dict[str, bytes]) -> None:
        self._keys = [
            hmac.new(key, b"handover codec session v1", hashlib.sha256).digest() for key in keyring.values()
        ]

    def issue(self, who: Caller, now: float | None = None) -> str:
        until = int((now if now is not None else time.time()) + COOKIE_LIFETIME)
        claims = base64.urlsafe_b64encode(
            json.dumps({"kind": who.kind, "name": who.name, "until": until}, separators=(",", ":")).encode()
        )
        return f"{claims.decode()}.{self._sign(self._keys[0], claims)}"

    def holder(self, cookie: str) -> Caller | None:
        """Who the cookie names, if it is ours, unaltered and unexpired."""
        claims, _, signature = cookie.partition(".")
        if not any(hmac.compare_digest(self._sign(key, claims.encode()), signature) for key in self._keys):
            return None
        try:
            named = json.loads(base64.urlsafe_b64decode(claims.encode()))
            who, until = Caller(str(named["kind"]), str(named["name"])), int(named["until"])
        except (ValueError, KeyError, TypeError):
            return None
        return who if until > time.time() else None

    @staticmethod
    def _sign(key: bytes, claims: bytes) -> str:
        return hmac.new(key, claims, hashlib.sha256).hexdigest()


HANDOVERS_PER_DECODE = 20
"""The most handovers whose payloads one decode request is looked at for."""


class CodecCors:
    """CORS on the codec routes only: no other route is meant for a browser on another origin."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["content-type", "x-namespace", "authorization"],
            allow_credentials=True,
            # Chrome asks before a page reaches an address on a private network.
            allow_private_network=True,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/codec/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def codec_caller(request: Request) -> Caller:
    """Whoever the bearer token says, or the codec cookie (a browser: the Temporal UI)."""
    if "authorization" in request.headers:
        return identified(request)
    cookie = request.cookies.get(COOKIE, "").strip()
    if not cookie:
        raise HTTPException(
            401,
            "Send your token as `Authorization: Bearer <token>` (the CLI: --codec-auth), or sign in to "
            "the handover console in this browser and turn on the Temporal UI's codec setting "
            '"Include cross-origin credentials".',
        )
    found = request.app.state.codec_sessions.holder(cookie)
    if found is None or not request.app.state.tokens.holds(found):
        raise HTTPException(
            401,
            "The codec cookie is not valid here (expired, or its token was withdrawn): "
            "sign in to the console again.",
        )
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        # A browser sends JSON only after a CORS preflight: no page elsewhere can spend the cookie.
        raise HTTPException(415, "Send the payloads as application/json, as the Temporal UI does.")
    return found


def same_namespace(request: Request, x_namespace: str | None = Header(None)) -> None:
    namespace = request.app.state.settings.temporal_namespace
    if x_namespace is not None and x_namespace != namespace:
        raise HTTPException(
            400,
            f"This endpoint encodes and decodes payloads of namespace {namespace!r} only, "
            f"not {x_namespace[:100]!r}.",
        )


router = APIRouter(prefix="/codec", tags=["codec"], dependencies=[Depends(same_namespace)])
off = APIRouter(prefix="/codec", tags=["codec"])
"""Served instead of `router` when payloads are not encrypted."""


async def payloads_in(request: Request) -> list[Payload]:
    try:
        return list(json_format.Parse(await request.body(), Payloads()).payloads)
    except (json_format.ParseError, UnicodeDecodeError, RecursionError) as error:
        problem = " ".join(str(error).split())[:200].rstrip(".")
        raise HTTPException(
            422,
            'The body must be {"payloads": [...]} in protobuf JSON, as the Temporal UI and CLI send it '
            f"({problem}).",
        ) from None


def payloads_out(payloads: list[Payload]) -> dict:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


@router.post(
    "/decode",
    summary="Temporal remote codec: encrypted payloads to what was stored, for the handover's readers",
)
async def decode(request: Request, who: Caller = Depends(codec_caller)) -> dict:
    """Each encrypted payload is decrypted if the caller may read the handover it is bound to, and
    sent back as it came otherwise (the UI then shows it encrypted). The UI sends one workflow's
    payloads at a time: past HANDOVERS_PER_DECODE handovers in one request, the rest come back as
    they came, unlooked-at (each handover costs Temporal a look)."""
    codec, access, client = request.app.state.codec, request.app.state.access, request.app.state.client
    allowed: dict[str | None, bool] = {}
    decoded = []
    for payload in await payloads_in(request):
        if payload.metadata.get("encoding") == ENCRYPTED:
            handover = bound_to(payload)
            if handover not in allowed and len(allowed) < HANDOVERS_PER_DECODE:
                allowed[handover] = await access.may_decode(client, handover, who.actor)
            if allowed.get(handover):
                try:
                    payload = codec.decrypt(payload)
                except UndecryptablePayload as error:
                    raise HTTPException(422, f"Cannot decode: {error}.") from None
        decoded.append(payload)
    return payloads_out(decoded)


@router.post("/encode", summary="Temporal remote codec: payloads to encrypted payloads")
async def encode(request: Request, who: Caller = Depends(codec_caller)) -> dict:
    """Encrypted under the first key, bound to no handover (the protocol does not say which): only
    the deployment's observers can decode them back through this endpoint."""
    return payloads_out(await request.app.state.codec.encode(await payloads_in(request)))


@router.post(
    "/session", status_code=204, summary="Give this browser a codec cookie (the console does it at sign-in)"
)
async def open_session(request: Request, response: Response, who: Caller = Depends(caller)) -> None:
    """Takes the bearer token only. The cookie decodes for 12 hours and does nothing else; taking the
    person's token out of the tokens file ends it too."""
    settings = request.app.state.settings
    cross_site = settings.codec_cookie_cross_site
    response.set_cookie(
        COOKIE,
        request.app.state.codec_sessions.issue(who),
        path="/codec",
        httponly=True,
        secure=cross_site or request.url.scheme == "https",
        samesite="none" if cross_site else "strict",
    )


@router.delete("/session", status_code=204, summary="Forget this browser's codec cookie (sign-out)")
async def close_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/codec", httponly=True)


@off.post("/decode", include_in_schema=False)
@off.post("/encode", include_in_schema=False)
@off.post("/session", include_in_schema=False)
@off.delete("/session", include_in_schema=False)
async def encryption_off() -> None:
    raise HTTPException(
        404,
        "Payload encryption is off here (HANDOVER_PAYLOAD_KEYS is not set): payloads in Temporal are "
        "plain JSON, there is nothing to encode or decode.",
    )
