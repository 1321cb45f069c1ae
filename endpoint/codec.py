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
browser a codec cookie (HttpOnly, for /codec only), and the UI sends it when its codec setting
"Include cross-origin credentials" is on (docs/threat-model.md, "The Temporal UI"). An Origin
header proves nothing (any client can send one): HANDOVER_CODEC_CORS_ORIGINS only lets those pages
read the answers.

What a caller gets back: a payload is decrypted only if the caller may read the handover it is bound
to (handover/codec.py binds each payload to its workflow id; handover/access.py says who may read);
any other payload comes back as it was sent, still encrypted.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from endpoint.auth import Caller, caller
from handover.codec import ENCRYPTED, UndecryptablePayload, bound_to

COOKIE = "handover_codec"
COOKIE_LIFETIME = 12 * 3600
"""Seconds: a working day and then some; signing in to the console again renews it."""
DECIDED_FOR = 60.0
"""Seconds a caller's right to decode a handover's payloads is remembered (the UI decodes in bursts)."""


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
        return caller(request)
    token = request.cookies.get(COOKIE, "").strip()
    if not token:
        raise HTTPException(
            401,
            "Send your token as `Authorization: Bearer <token>` (the CLI: --codec-auth), or sign in to "
            "the handover console in this browser and turn on the Temporal UI's codec setting "
            '"Include cross-origin credentials".',
        )
    found = request.app.state.tokens.identify(token)
    if found is None:
        raise HTTPException(401, "The codec cookie's token is not known here: sign in to the console again.")
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


class Decisions:
    """Who may decode which handover's payloads, remembered for DECIDED_FOR seconds."""

    def __init__(self) -> None:
        self._decided: dict[tuple[str, str | None], tuple[bool, float]] = {}

    async def may_decode(self, request: Request, who: Caller, workflow_id: str | None) -> bool:
        key, now = (who.actor, workflow_id), time.monotonic()
        decided = self._decided.get(key)
        if decided is None or now - decided[1] > DECIDED_FOR:
            if len(self._decided) > 10_000:
                self._decided.clear()
            allowed = await request.app.state.access.may_decode(
                request.app.state.client, workflow_id, who.actor
            )
            decided = self._decided[key] = (allowed, now)
        return decided[0]


@router.post(
    "/decode",
    summary="Temporal remote codec: encrypted payloads to what was stored, for the handover's readers",
)
async def decode(request: Request, who: Caller = Depends(codec_caller)) -> dict:
    """Each encrypted payload is decrypted if the caller may read the handover it is bound to, and
    sent back as it came otherwise (the UI then shows it encrypted)."""
    codec, decisions = request.app.state.codec, request.app.state.codec_decisions
    decoded = []
    for payload in await payloads_in(request):
        if payload.metadata.get("encoding") == ENCRYPTED and await decisions.may_decode(
            request, who, bound_to(payload)
        ):
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
    """Takes the bearer token only. The cookie holds the token (HttpOnly, path /codec, 12 hours):
    taking the token out of the tokens file ends it too."""
    settings = request.app.state.settings
    cross_site = settings.codec_cookie_cross_site
    response.set_cookie(
        COOKIE,
        request.headers["authorization"].partition(" ")[2].strip(),
        max_age=COOKIE_LIFETIME,
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
