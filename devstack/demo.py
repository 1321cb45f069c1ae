"""`make demo`: a whole planned handover on the demo scenario.

Brings the stack up if it is not running (and stops it again afterwards), resets the sandbox to
the demo scenario, starts a handover from Alice to Bob with starter.py, plays both people's parts
through the endpoint with each one's own token (what the console sends), and prints the report.
Nothing is skipped and no time is faked: the only shortcut is `--overlap 45s --demo` instead of
the planned minimum of 2 hours.
"""

from __future__ import annotations

import json
import shlex
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx

from devstack.stack import ENDPOINT_PORT, ROOT, _host_port, demo_tokens, listening, sandbox_healthy
from handover.settings import Settings

OUTGOING = "alice@novalien.com"
INCOMING = "bob@novalien.com"
OVERLAP = "45s"
STARTER = [sys.executable, str(ROOT / "starter.py")]

STATUS_PARAGRAPHS = {
    "Q1DISK7": (
        "WAL archiving stalled after the key rotation: archive_command gets 403 from the backup bucket.",
        "Moved 40 GB of old WAL to /mnt/scratch; disk is back to 81%.",
        "Get the new bucket key into the archive_command secret, then confirm WAL drains.",
    ),
    "Q2API5X": (
        "Session cache misses after the 14:00 deploy push p99 on /v1/sessions past 2 s.",
        "Paused the platform-api.session-cache rollout at 10% and scaled the API pool to 12.",
        "Watch p99 for 30 minutes; if it stays above 1 s, roll the cache flag back to 0%.",
    ),
    "Q3CERT9": (
        "cert-manager cannot renew vms-edge.novalien.com: the DNS-01 solver lost its API token.",
        "Re-issued the solver token and triggered a renewal; the order is pending.",
        "Confirm the new certificate is served by all five edge proxies before Friday.",
    ),
}
GENERIC_PARAGRAPH = (
    "Cause not confirmed yet; see the incident timeline.",
    "Collected logs and paged the owning team.",
    "Follow up with the owning team at the next check-in.",
)


class DemoError(Exception):
    pass


def starter(*args: str, capture: bool = False) -> str:
    command = [*STARTER, *args]
    print(f"\n$ starter.py {shlex.join(args)}", flush=True)
    result = subprocess.run(command, cwd=ROOT, text=True, capture_output=True)
    if not capture or result.returncode != 0:
        sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise DemoError(f"starter.py {args[0]} exited with {result.returncode}")
    return result.stdout


def progress(handover: str) -> dict:
    result = subprocess.run(
        [*STARTER, "status", handover, "--json"], cwd=ROOT, text=True, capture_output=True
    )
    if result.returncode != 0:
        raise DemoError(f"starter.py status failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def stack_is_up(settings: Settings) -> bool:
    host, port = _host_port(settings.temporal_address)
    ca_file = settings.data_dir / "sandbox" / "ca.pem"
    return (
        listening(host, port)
        and listening("127.0.0.1", ENDPOINT_PORT)
        and sandbox_healthy(settings.sandbox_url.rstrip("/"), ca_file)
    )


def bring_up(settings: Settings) -> subprocess.Popen:
    log = settings.data_dir / "logs" / "demo-stack.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"The stack is not running: starting it (output in {log}) ...", flush=True)
    stack = subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        cwd=ROOT,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while not stack_is_up(settings):
        if stack.poll() is not None or time.monotonic() > deadline:
            raise DemoError(f"the stack did not come up; see {log}")
        time.sleep(0.5)
    time.sleep(2)  # the worker starts last
    return stack


def reset_sandbox(settings: Settings) -> None:
    context = ssl.create_default_context(cafile=str(settings.data_dir / "sandbox" / "ca.pem"))
    request = urllib.request.Request(
        f"{settings.sandbox_url.rstrip('/')}/_sandbox/reset",
        method="POST",
        data=b"{}",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=10):
        pass


class Person:
    """One of the demo's admins at the endpoint, with their own token: what the console does."""

    def __init__(self, email: str, token: str) -> None:
        self.email = email
        self.http = httpx.Client(
            base_url=f"http://localhost:{ENDPOINT_PORT}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def post(self, path: str, body: dict | None = None) -> None:
        answer = self.http.post(path, json=body)
        said = answer.json().get("message") or answer.json()
        print(f"\n{self.email}: POST {path}\n  -> {answer.status_code} {said}")
        if answer.status_code >= 300 and answer.status_code != 202:
            raise DemoError(f"the endpoint refused {path}: {answer.json().get('detail')}")

    def progress(self, handover: str) -> dict:
        return self.http.get(f"/handovers/{handover}").raise_for_status().json()


def play(handover: str, alice: Person, bob: Person) -> None:
    """Both people's parts, through the endpoint (as the console sends them)."""
    base = f"/handovers/{handover}"
    current = alice.progress(handover)
    rollouts = {r["rollout"]["id"]: r["rollout"] for r in current["rollouts"]}
    # The outgoing admin writes what only they know.
    for wait in current["pending"]:
        if wait["owner"] != OUTGOING:
            continue
        item = wait["item_id"]
        if wait["kind"] == "submit_status":
            hypothesis, last_action, next_action = STATUS_PARAGRAPHS.get(item, GENERIC_PARAGRAPH)
            body = {"hypothesis": hypothesis, "last_action": last_action, "next_action": next_action}
            alice.post(f"{base}/incidents/{item}/status", body)
        elif wait["kind"] == "link_engineering_issue":
            alice.post(f"{base}/tickets/{item}/engineering-link", {"issue": "ENG-4242"})
        elif wait["kind"] == "annotate_rollout":
            rollout = rollouts[item]
            next_step = "Hold at this step for 24h; ramp +15% if the error rate stays under 0.5%."
            body = {
                "ramp_percent": rollout["ramp_percent"],
                "error_rate": rollout["error_rate"],  # None: not known yet, and said so
                "next_step": next_step,
            }
            alice.post(f"{base}/rollouts/{item}/annotation", body)
    # The incoming admin acknowledges, takes ownership, and thumbs-up the summary.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = bob.progress(handover)
        if current["phase"] in ("waiting for overlap to end", "completed"):
            return
        mine = [w for w in current["pending"] if w["owner"] == INCOMING]
        for wait in mine:
            if wait["kind"] == "acknowledge_incident":
                bob.post(f"{base}/incidents/{wait['item_id']}/ack")
            elif wait["kind"] == "take_rollout_ownership":
                bob.post(f"{base}/rollouts/{wait['item_id']}/ownership")
            elif wait["kind"] == "acknowledge_summary":
                bob.post(f"{base}/summary/ack")
        if not mine:
            time.sleep(1)
    raise DemoError("the handover did not reach the overlap phase within 2 minutes; see `starter.py status`")


def main() -> int:
    settings = Settings.load_or_exit()
    if not settings.uses_sandbox:
        print("error: `make demo` runs on the sandbox only; unset the real API tokens first", file=sys.stderr)
        return 2
    stack = None
    try:
        if not stack_is_up(settings):
            stack = bring_up(settings)
        reset_sandbox(settings)
        print("Sandbox reset to the demo scenario.")
        handover = f"handover-{OUTGOING}"
        subprocess.run(
            [
                str(Path(sys.executable).parent / "temporal"),
                "workflow",
                "terminate",
                "--workflow-id",
                handover,
                "--reason",
                "make demo starts over",
                "--address",
                settings.temporal_address,
                "--namespace",
                settings.temporal_namespace,
            ],
            cwd=ROOT,
            capture_output=True,
        )
        starter(
            "start",
            OUTGOING,
            INCOMING,
            "--overlap",
            OVERLAP,
            "--demo",
            "--reason",
            "make demo",
            "--requested-by",
            "make-demo",
        )
        starter("status", handover)
        tokens = demo_tokens(settings)
        print(
            "\nThe two people now answer through the endpoint (as the console does), each with their token."
        )
        play(handover, Person(OUTGOING, tokens[OUTGOING]), Person(INCOMING, tokens[INCOMING]))
        starter("status", handover)
        print(f"\nWaiting for the {OVERLAP} overlap to run out ...", flush=True)
        starter("report", handover, "--wait")
        print("Demo complete: the handover finished and its report is above.")
        return 0
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            stack.send_signal(signal.SIGTERM)
            stack.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
