"""`make demo`: a whole planned handover on the demo scenario.

Brings the stack up if it is not running (and stops it again afterwards), resets the sandbox to
the demo scenario, starts a handover from Alice to Bob with starter.py, plays both people's parts
through the endpoint with each one's own token (what the console sends), and prints the report.
Nothing is skipped and no time is faked: the only shortcut is `--overlap 45s --demo` instead of
the planned minimum of 2 hours.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devstack import people
from devstack.people import INCOMING, OUTGOING
from devstack.stack import ENDPOINT_PORT, ROOT, _host_port, demo_tokens, listening, sandbox_healthy
from handover.models import Phase
from handover.settings import Settings

OVERLAP = "45s"
STARTER = [sys.executable, str(ROOT / "starter.py")]


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


async def play(handover: str, tokens: dict[str, str]) -> None:
    """Both people's parts, through the endpoint (as the console sends them), until the overlap."""
    desk = people.EndpointDesk(f"http://localhost:{ENDPOINT_PORT}", handover, tokens)
    try:
        await people.play(
            desk,
            until=lambda current: current.phase in (Phase.OVERLAP, Phase.COMPLETED),
            words=people.Words.DEMO,
            pause=1,
        )
    except people.Refused as refusal:
        raise DemoError(str(refusal)) from None
    except people.Stalled:
        raise DemoError(
            "the handover did not reach the overlap phase within 2 minutes; see `starter.py status`"
        ) from None
    finally:
        await desk.aclose()


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
        asyncio.run(play(handover, {person: tokens[person] for person in (OUTGOING, INCOMING)}))
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
