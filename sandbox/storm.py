"""Scenarios of any size: the demo's people, with Alice owning as many incidents, pinned tickets
and rollouts in flight as asked — an alert storm is thousands.

    python -m sandbox --storm 2000,500,200         (incidents, tickets, rollouts)

Everything else of the demo stays (the items that must not be picked up, Carol's, the billing
service), so a storm handover is checked against the same traps as the demo.
"""

from __future__ import annotations

from typing import Any

import yaml

from sandbox.state import DEMO_SCENARIO

ALICE_PD, ALICE = "PALICEM", "alice@novalien.com"
SERVICES = ("PPLATOPS", "PPLATAPI")
SYMPTOMS = ("disk latency", "packet loss", "kubelet down", "5xx burst")
TICKET_STATES = ("waiting_on_customer", "waiting_on_engineering", "waiting_on_engineering", "active", "open")


def storm(incidents: int, tickets: int, rollouts: int, *, engineering_issues: bool = True) -> dict[str, Any]:
    """The demo scenario with Alice's open incidents, pinned tickets and rollouts in flight
    replaced by generated ones. Every third active ticket has an open impersonation session.
    `engineering_issues=False` leaves every other waiting-on-engineering ticket unlinked (the
    outgoing admin must name the issue)."""
    scenario = yaml.safe_load(DEMO_SCENARIO.read_text())
    scenario["name"] = f"storm-{incidents}-{tickets}-{rollouts}"
    scenario["description"] = f"alert storm: {incidents} incidents, {tickets} tickets, {rollouts} rollouts"
    pd, platform = scenario["pagerduty"], scenario["platform"]

    def alices_open(incident: dict) -> bool:
        return (
            incident.get("assignees") == [ALICE_PD]
            and incident["status"] != "resolved"
            and incident["service"] in SERVICES
        )

    pd["incidents"] = [i for i in pd["incidents"] if not alices_open(i)] + [
        {
            "id": f"QS{n:05d}",
            "number": 10000 + n,
            "title": f"vms-node-{n % 400:03d}: {SYMPTOMS[n % 4]}",
            "service": SERVICES[n % 2],
            "status": "acknowledged" if n % 3 == 0 else "triggered",
            "urgency": "high" if n % 5 else "low",
            "created_at": f"-{1 + n % 120}m",
            "assignees": [ALICE_PD],
        }
        for n in range(incidents)
    ]
    platform["tickets"] = [t for t in platform["tickets"] if not (t["assignee"] == ALICE and t["pinned"])]
    kept = {t["id"] for t in platform["tickets"]}
    sessions = [s for s in platform["impersonation_sessions"] if s.get("ticket_id") in kept]
    for n in range(tickets):
        state = TICKET_STATES[n % len(TICKET_STATES)]
        ticket = {
            "id": f"SUP-{20000 + n}",
            "subject": f"Tenant t-{n:04d}: VMs unreachable after the storage incident",
            "customer": f"Customer {n % 97}",
            "state": state,
            "assignee": ALICE,
            "pinned": True,
            "updated_at": f"-{1 + n % 300}m",
        }
        if state == "waiting_on_engineering" and (engineering_issues or n % 2):
            ticket["engineering_issue"] = f"ENG-{3000 + n}"
        platform["tickets"].append(ticket)
        if state == "active" and n % 3 == 0:
            sessions.append(
                {
                    "id": f"IMP-{60000 + n}",
                    "admin": ALICE,
                    "ticket_id": ticket["id"],
                    "state": "open",
                    "started_at": f"-{1 + n % 50}m",
                }
            )
    platform["impersonation_sessions"] = sessions
    platform["rollouts"] = [
        r for r in platform["rollouts"] if r["owner"] != ALICE or r["state"] == "complete"
    ]
    platform["rollouts"] += [
        {
            "id": f"RO-{5000 + n}",
            "flag": f"vms.storm-flag-{n:03d}",
            "state": "paused" if n % 4 == 0 else "ramping",
            "ramp_percent": 5 + n % 90,
            "error_rate": round((n % 30) / 10, 1),
            "owner": ALICE,
            "updated_at": f"-{1 + n % 600}m",
        }
        for n in range(rollouts)
    ]
    return scenario


def parse_size(text: str) -> tuple[int, int, int]:
    """`2000,500,200` → (2000, 500, 200)."""
    try:
        incidents, tickets, rollouts = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"{text!r}: give three counts, incidents,tickets,rollouts (e.g. 2000,500,200)"
        ) from None
    if min(incidents, tickets, rollouts) < 0 or incidents > 9000:
        raise ValueError(f"{text!r}: counts must be 0 or more, and at most 9000 incidents")
    return incidents, tickets, rollouts


def crowd(admins: int, incidents_each: int = 2) -> dict[str, Any]:
    """The demo plus `admins` more platform admins (admin-000@novalien.com, ...), each with
    `incidents_each` open incidents, a pinned ticket and a rollout in flight: for many handovers at
    once, each handing over to Bob."""
    scenario = yaml.safe_load(DEMO_SCENARIO.read_text())
    scenario["name"] = f"crowd-{admins}"
    pd, slack, platform = scenario["pagerduty"], scenario["slack"], scenario["platform"]
    for n in range(admins):
        email, pd_id, name = f"admin-{n:03d}@novalien.com", f"PADM{n:03d}", f"Admin {n:03d}"
        pd["users"].append({"id": pd_id, "name": name, "email": email, "role": "admin", "time_zone": "UTC"})
        slack["users"].append(
            {"id": f"U0ADM{n:03d}", "name": f"admin{n:03d}", "real_name": name, "email": email}
        )
        platform["admins"].append({"email": email, "name": name})
        for k in range(incidents_each):
            pd["incidents"].append(
                {
                    "id": f"QC{n:03d}{k:03d}",
                    "number": 20000 + incidents_each * n + k,
                    "title": f"{name}: hypervisor alarm {k}",
                    "service": SERVICES[k % 2],
                    "status": "triggered",
                    "urgency": "high",
                    "created_at": "-30m",
                    "assignees": [pd_id],
                }
            )
        platform["tickets"].append(
            {
                "id": f"SUP-{40000 + n}",
                "subject": f"{name}'s pinned ticket",
                "customer": "Acme Logistics",
                "state": "waiting_on_customer",
                "assignee": email,
                "pinned": True,
                "updated_at": "-1h",
            }
        )
        platform["rollouts"].append(
            {
                "id": f"RO-{7000 + n}",
                "flag": f"vms.crowd-flag-{n:03d}",
                "state": "ramping",
                "ramp_percent": 10,
                "error_rate": 0.2,
                "owner": email,
                "updated_at": "-2h",
            }
        )
    return scenario
