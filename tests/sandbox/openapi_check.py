"""Checks real requests to the sandbox, and its answers, against an OpenAPI file with openapi-core.

The sandbox serves an API under a prefix (`https://127.0.0.1:PORT/pagerduty`); the spec names
the real server (`https://api.pagerduty.com`). `Contract` maps one onto the other, so the same
request is checked against the path the real API would have been asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from werkzeug.datastructures import Headers, ImmutableMultiDict


@dataclass
class SpecRequest:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class SpecResponse:
    status_code: int
    content_type: str
    data: bytes | None
    headers: Headers


@dataclass
class Exchange:
    """One request and its answer, as the client sent and got them."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes

    @classmethod
    def of(cls, response: Any) -> Exchange:
        """From an httpx (or httpx2) response whose body has been read."""
        request = response.request
        return cls(
            method=request.method,
            url=str(request.url),
            request_headers=dict(request.headers),
            request_body=request.content,
            status=response.status_code,
            response_headers=dict(response.headers),
            response_body=response.content,
        )

    @property
    def route(self) -> str:
        return f"{self.method} {urlsplit(self.url).path}"


@dataclass
class Contract:
    spec: OpenAPI
    sandbox_prefix: str
    """The API's base URL in the sandbox, e.g. https://127.0.0.1:PORT/pagerduty."""
    server_url: str
    """The server in the spec, e.g. https://api.pagerduty.com."""
    checked: list[str] = field(default_factory=list)

    def spec_request(self, exchange: Exchange, extra_headers: dict[str, str] | None = None) -> SpecRequest:
        url = urlsplit(exchange.url)
        prefix = urlsplit(self.sandbox_prefix)
        server = urlsplit(self.server_url)
        assert url.path.startswith(prefix.path), f"{exchange.url} is not under {self.sandbox_prefix}"
        headers = Headers(list(exchange.request_headers.items()))
        for name, value in (extra_headers or {}).items():
            if name not in headers:
                headers[name] = value
        return SpecRequest(
            host_url=f"{server.scheme}://{server.netloc}",
            path=server.path.rstrip("/") + url.path[len(prefix.path) :],
            method=exchange.method.lower(),
            body=exchange.request_body or None,
            content_type=headers.get("content-type", "application/json"),
            parameters=RequestParameters(
                query=ImmutableMultiDict(parse_qsl(url.query, keep_blank_values=True)),
                header=headers,
            ),
        )

    def check(self, exchange: Exchange, *, extra_request_headers: dict[str, str] | None = None) -> None:
        """Raises openapi-core's error if the request or the answer breaks the contract.

        A request the spec calls invalid passes only if the sandbox refused it too (4xx), with an
        answer the spec allows: that is how the error routes are checked.
        """
        request = self.spec_request(exchange, extra_request_headers)
        response = SpecResponse(
            status_code=exchange.status,
            content_type=exchange.response_headers.get("content-type", ""),
            data=exchange.response_body or None,
            headers=Headers(list(exchange.response_headers.items())),
        )
        try:
            self.spec.validate_request(request)
        except OpenAPIError:
            if not 400 <= exchange.status < 500:
                raise
        self.spec.validate_response(request, response)
        self.checked.append(f"{exchange.method} {request.path} -> {exchange.status}")
