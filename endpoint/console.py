"""The handover console: one page, served as is; it talks to the API with the admin's token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from handover.inputs import INPUTS
from handover.models import ITEM_KINDS

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


def _field(name: str, schema: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """One field of an input's body, as a plain form shows it."""
    types = {schema.get("type")} | {choice.get("type") for choice in schema.get("anyOf", [])}
    longest = max([schema.get("maxLength", 0)] + [c.get("maxLength", 0) for c in schema.get("anyOf", [])])
    return {
        "name": name,
        "label": name.replace("_", " ").capitalize(),
        "hint": schema.get("description"),
        "required": name in required and "null" not in types,
        "nullable": "null" in types,
        "number": bool(types & {"number", "integer"}),
        "multiline": longest > 500,
        "maxlength": longest or None,
    }


def _declarations() -> dict[str, Any]:
    kinds = [
        {"field": k.field, "kind": k.kind, "noun": k.noun, "title": k.title, "optional": k.patch is not None}
        for k in ITEM_KINDS
    ]
    declared = []
    for each in INPUTS:
        schema = each.body.model_json_schema() if each.body else {"properties": {}}
        required = schema.get("required", [])
        declared.append(
            {
                "name": each.name,
                "route": each.route,
                "item": each.item_in_path,
                "items": next((kind.field for kind in ITEM_KINDS if each.kind in kind.owes), None),
                "summary": each.summary,
                "given_by": each.given_by.value,
                "in_console": each.in_console,
                "fields": [_field(name, field, required) for name, field in schema["properties"].items()],
            }
        )
    return {"kinds": kinds, "inputs": declared}


DECLARATIONS = _declarations()


@router.get("/console/declarations", include_in_schema=False)
async def declarations() -> dict[str, Any]:
    """The item kinds and the human inputs as the service declares them (ITEM_KINDS in
    handover/models.py, INPUTS in handover/inputs.py): the console counts every kind, lists its
    items, and gives a plain form for an input it has no hand-made card for."""
    return DECLARATIONS
