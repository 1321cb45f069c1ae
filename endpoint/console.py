"""The handover console: one page, served as is; it talks to the API with the admin's token."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(tags=["console"])
STATIC = Path(__file__).parent / "static"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def console() -> FileResponse:
    return FileResponse(STATIC / "console.html", media_type="text/html")


@router.get("/static/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    allowed = {"console.js": "text/javascript", "console.css": "text/css"}
    if name not in allowed:
        from fastapi import HTTPException

        raise HTTPException(404, "No such file.")
    return FileResponse(STATIC / name, media_type=allowed[name])
