"""The worker and the endpoint, started while Temporal is out of reach: one line that says where
they looked and what to do, exit 1 (a supervisor starts them again), never a stack trace."""

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
