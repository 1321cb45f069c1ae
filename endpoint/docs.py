"""The API's Swagger UI at /docs, served from the endpoint's own copy: no third-party script runs on
the console's origin, where the admin's token is kept.

Swagger UI's files come from the `fastapi-offline` package (its version pins theirs); the page and
its start-up script are ours, because the Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
FILES = {
    "swagger-ui-bundle.js": (SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css"),
    "swagger-init.js": (STATIC / "swagger-init.js", "text/javascript"),
}


@router.get("/docs")
async def docs() -> FileResponse:
    return FileResponse(STATIC / "docs.html", media_type="text/html")


@router.get("/docs/{name}")
async def docs_file(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404, "No such file.")
    path, media_type = FILES[name]
    return FileResponse(path, media_type=media_type)
