"""Reading the sandbox's write log: what PagerDuty, Slack and the platform were asked to do."""

from __future__ import annotations


def successful(writes: list[dict], api: str, method: str = "", path_part: str = "") -> list[dict]:
    return [
        w
        for w in writes
        if w["api"] == api
        and (not method or w["method"] == method)
        and path_part in w["path"]
        and w["status"] < 300
    ]


def message_part(write: dict) -> str | None:
    """Which of the handover's Slack messages this is (its metadata names the part)."""
    body = write["body"] if isinstance(write["body"], dict) else {}
    return ((body.get("metadata") or {}).get("event_payload") or {}).get("part")


def slack_parts(writes: list[dict]) -> list[str]:
    return [message_part(w) or "?" for w in successful(writes, "slack", "POST", "chat.postMessage")]


def reassignments(writes: list[dict], incident_id: str) -> list[dict]:
    """Successful PUTs that change the incident's assignments (bulk or single)."""
    found = []
    for w in successful(writes, "pagerduty", "PUT", "/incidents"):
        body = w["body"] or {}
        bulk = [i for i in body.get("incidents", []) if i["id"] == incident_id and "assignments" in i]
        single = w["path"].endswith(f"/{incident_id}") and "assignments" in body.get("incident", {})
        if bulk or single:
            found.append(w)
    return found
