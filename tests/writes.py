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


def _logical_keys(write: dict) -> list[tuple]:
    """What a write means, so that the same change made twice shows as a duplicate."""
    body = write["body"] if isinstance(write["body"], dict) else {}
    api, method, path = write["api"], write["method"], write["path"]
    if api == "pagerduty" and path.endswith("/overrides") and method == "POST":
        return [("override", o["user"]["id"], o["start"], o["end"]) for o in body.get("overrides", [])]
    if api == "pagerduty" and path.endswith("/notes"):
        return [("note", path, body.get("note", {}).get("content"))]
    if api == "pagerduty" and method == "PUT":
        changes = body.get("incidents") or [{**body.get("incident", {}), "id": path.rsplit("/", 1)[-1]}]
        keys = []
        for change in changes:
            if "assignments" in change:
                keys.append(("reassign", change["id"], str(change["assignments"])))
            if "status" in change:
                keys.append(("status", change["id"], change["status"]))
        return keys
    if api == "slack" and path.strip("/") == "chat.update":
        return []  # it sets the whole message: made again (a retry), it changes nothing more
    if api == "slack":
        return [("message", message_part(write), body.get("thread_ts"), str(body.get("metadata")))]
    if api == "platform" and path.endswith("/annotations"):
        if (write.get("result") or {}).get("replayed"):
            return []  # the Idempotency-Key answered with the first annotation: nothing written
        return [("annotation", path)]
    return [(api, method, path, str(body))]


def duplicates(writes: list[dict]) -> dict[tuple, int]:
    """Changes that were made more than once (successful writes only)."""
    counts: dict[tuple, int] = {}
    for write in writes:
        if not 200 <= write["status"] < 300:  # (status 0: an injected fault dropped it unhandled)
            continue
        for key in _logical_keys(write):
            counts[key] = counts.get(key, 0) + 1
    return {key: count for key, count in counts.items() if count > 1}
