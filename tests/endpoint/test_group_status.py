"""One status paragraph for incidents that share a cause, over HTTP against the dev server: one
input, recorded per incident, and each incident still gets its own note and reassignment; a
refused one changes nothing. The status forms' drafts come from PagerDuty's latest notes."""

from __future__ import annotations

from tests.endpoint.test_api import ID, STATUS, start
from tests.humans import OUTGOING, inventory, wait_for
from tests.writes import reassignments, successful


async def test_one_status_for_several_incidents_through_the_endpoint(endpoint, fresh_sandbox):
    await start(endpoint)
    listed = await inventory(endpoint.client, ID)
    ids = [item.incident.id for item in listed.incidents if item.outcome.value == "pending"]
    assert len(ids) >= 2, "the demo hands over several incidents"
    drafts = await wait_for(endpoint.client, ID, lambda p: any(i.draft for i in p.incidents))
    by_id = {item.incident.id: item for item in drafts.incidents}
    assert by_id["Q1DISK7"].draft.startswith("WAL archiving stalled after the 02:00 base backup")
    assert by_id["Q2API5X"].draft is None, "no note in PagerDuty: no draft"

    async with endpoint.http(OUTGOING) as alice:
        refused = await alice.post(
            f"/handovers/{ID}/incidents/status", json={**STATUS, "incident_ids": [ids[0], "QNOTOURS"]}
        )
        assert refused.status_code == 404, refused.text
        assert refused.json()["detail"].startswith("incident QNOTOURS is not part of handover")
        progress = await wait_for(endpoint.client, ID, lambda p: True)
        assert all(item.status_given is None for item in progress.incidents), "a refusal changes nothing"

        answer = await alice.post(f"/handovers/{ID}/incidents/status", json={**STATUS, "incident_ids": ids})
        assert answer.status_code == 200, answer.text
        assert answer.json()["message"].startswith(f"status paragraph received for {len(ids)} incidents")
        again = await alice.post(
            f"/handovers/{ID}/incidents/status", json={**STATUS, "incident_ids": ids[:1]}
        )
        assert again.status_code == 409 and "has a status already" in again.json()["detail"]

    done = await wait_for(
        endpoint.client, ID, lambda p: all(i.reassigned for i in p.incidents if i.incident.id in ids)
    )
    for item in done.incidents:
        if item.incident.id in ids:
            assert item.status.hypothesis == STATUS["hypothesis"]
            assert item.status_given.via == f"one status for {len(ids)} incidents"
    writes = fresh_sandbox.control().get("/writes", params={"system": "pagerduty"}).json()["writes"]
    for incident_id in ids:
        notes = successful(writes, "pagerduty", "POST", f"/incidents/{incident_id}/notes")
        assert len(notes) == 1 and STATUS["hypothesis"] in notes[0]["body"]["note"]["content"]
        assert len(reassignments(writes, incident_id)) == 1
