"""The worker and the endpoint, started while Temporal is out of reach: one line that says where
they looked and what to do, exit 1 (a supervisor starts them again), never a stack trace."""

import ast
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe is


@pytest.mark.parametrize(
    "command", [["worker.py"], ["-m", "endpoint", "--port", "0"]], ids=["worker", "endpoint"]
)
def test_a_process_started_without_temporal_says_so_in_one_line(command: list[str], tmp_path: Path):
    address = f"127.0.0.1:{closed_port()}"
    env = {"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": address, "HANDOVER_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert f"cannot reach Temporal at {address} (Connection refused)" in said
    assert "Traceback" not in said


def test_the_worker_does_not_load_what_only_the_cli_needs(tmp_path: Path):
    """rich and pygments are for starter.py's tables; structlog and httpx would load them in the
    worker (4 MB). And the API clients load with the first activity that calls them, so a worker
    running only the workflows (HANDOVER_WORKER_RUNS) never loads them (6.5 MB)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{closed_port()}",
        "HANDOVER_DATA_DIR": str(tmp_path),
    }
    code = (  # (the worker leaves by os._exit: what it loaded is printed on the way out)
        "import os, runpy, sys\n"
        "leave = os._exit\n"
        "def printed(code):\n"
        "    print(sorted(name for name, module in sys.modules.items() if module), flush=True)\n"
        "    leave(code)\n"
        "os._exit = printed\n"
        "runpy.run_path('worker.py', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    loaded = {name.split(".")[0] for name in ast.literal_eval(done.stdout.splitlines()[-1])}
    assert {"structlog", "temporalio", "activities", "workflows"} <= loaded, done.stdout + done.stderr
    assert not loaded & {"rich", "pygments", "pagerduty", "httpx", "slack_sdk"}
