"""The codec endpoint: Temporal's remote codec protocol, so that the Temporal UI and
`temporal workflow show` show encrypted payloads as what people typed. Served only when
HANDOVER_PAYLOAD_KEYS is set (otherwise both routes answer 404: there is nothing to decode).

    POST /codec/decode, POST /codec/encode     body and answer: {"payloads": [...]}, protobuf JSON

The UI takes TEMPORAL_CODEC_ENDPOINT=<endpoint>/codec and the CLI takes
`--codec-endpoint <endpoint>/codec --codec-auth "Bearer <token>"`; both append /decode or /encode and
send the namespace in X-Namespace.

Who may call: decoding shows what people typed, so it takes a token (an admin's or a service's),
except from a browser on one of HANDOVER_CODEC_CORS_ORIGINS, the Temporal UI, which sends no token
of ours. An Origin header is trivial to forge outside a browser: with origins configured, anyone who
can reach the endpoint can decode, so it must then be reachable only from the operators' network,
like the UI itself.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from endpoint.auth import Caller, caller
from handover.codec import UndecryptablePayload


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


def codec_caller(request: Request) -> Caller | None:
    """Whoever the token says; None for a browser on an allowed origin (the Temporal UI)."""
    if request.headers.get("origin") in request.app.state.settings.codec_cors_origins:
        return None
    return caller(request)


def same_namespace(request: Request, x_namespace: str | None = Header(None)) -> None:
    namespace = request.app.state.settings.temporal_namespace
    if x_namespace is not None and x_namespace != namespace:
        raise HTTPException(
            400,
            f"This endpoint encodes and decodes payloads of namespace {namespace!r} only, "
            f"not {x_namespace[:100]!r}.",
        )


router = APIRouter(
    prefix="/codec", tags=["codec"], dependencies=[Depends(codec_caller), Depends(same_namespace)]
)
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


@router.post("/decode", summary="Temporal remote codec: encrypted payloads to what was stored")
async def decode(request: Request) -> dict:
    try:
        decoded = await request.app.state.codec.decode(await payloads_in(request))
    except UndecryptablePayload as error:
        raise HTTPException(422, f"Cannot decode: {error}.") from None
    return payloads_out(decoded)


@router.post("/encode", summary="Temporal remote codec: payloads to encrypted payloads")
async def encode(request: Request) -> dict:
    return payloads_out(await request.app.state.codec.encode(await payloads_in(request)))


@off.post("/decode", include_in_schema=False)
@off.post("/encode", include_in_schema=False)
async def encryption_off() -> None:
    raise HTTPException(
        404,
        "Payload encryption is off here (HANDOVER_PAYLOAD_KEYS is not set): payloads in Temporal are "
        "plain JSON, there is nothing to encode or decode.",
    )
