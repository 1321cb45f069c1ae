"""`make reliability`: the fault, crash and abuse suites, then one table of what happened.

    python scripts/reliability.py [--workers 2] [--table-only]

1. The fast part (also in `make test`): the abuse matrix (bad inputs to the endpoint and the CLI),
   the replay of every recorded history, handovers under injected faults on the time-skipping server.
2. The crash and fault matrix on real processes (tests/reliability, marker `reliability`): SIGKILL
   the worker at each step's boundary and in the middle of its activity, stop and kill Temporal, stop all
   workers while people acknowledge through the endpoint, run every variant under ~25 % failures;
   then search every history and log line for the session's secrets. Runs on `--workers` stacks
   at once (pytest-xdist).

Each run leaves a JSON row under tests/artifacts/; the table is made from them. Exit status 0 only
when every suite passed and the table shows 100 % completed, 0 duplicates, 0 lost, every bad
input refused and 0 secrets found.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
RUNS = ARTIFACTS / "reliability"
FAST = ["tests/test_abuse.py", "tests/replay", "tests/workflows/test_faults.py"]


def pytest(arguments: list[str], junit: Path) -> int:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        *arguments,
    ]
    print("$", " ".join(command[1:]), flush=True)
    return subprocess.call(command, cwd=ROOT)


def junit_counts(junit: Path, path_part: str) -> tuple[int, int]:
    """(tests run, passed) among the test cases whose file or class contains `path_part`."""
    if not junit.exists():
        return 0, 0
    run = passed = 0
    for case in ElementTree.parse(junit).iter("testcase"):
        where = f"{case.get('classname', '')}.{case.get('file', '')}".replace(".", "/")
        if path_part not in where:
            continue
        if case.find("skipped") is not None:
            continue
        run += 1
        passed += case.find("failure") is None and case.find("error") is None
    return run, passed


COLUMNS = (
    "scenario",
    "runs",
    "completed",
    "duplicates",
    "acks lost",
    "injected failures",
    "bad inputs tried / refused",
    "secrets",
)


def line(scenario: str, **cells: str) -> tuple[str, ...]:
    keys = ("runs", "completed", "duplicates", "lost", "injected", "bad", "secrets")
    return (scenario, *(cells.get(key, "") for key in keys))


def table(fast_junit: Path, slow_junit: Path, fast_status: int, slow_status: int) -> tuple[str, bool]:
    rows = [COLUMNS]
    good = fast_status == 0 and slow_status == 0
    requests = fired = 0

    groups: dict[str, list[dict]] = defaultdict(list)
    secrets: list[dict] = []
    for path in sorted(RUNS.glob("*.json")):
        row = json.loads(path.read_text())
        if row["kind"] == "secrets":
            secrets.append(row)
        else:
            groups[row["scenario"]].append(row)
    for scenario, runs in groups.items():
        completed = sum(r["completed"] for r in runs)
        duplicates = sum(r["duplicates"] for r in runs)
        acknowledgements = sum(r["acknowledgements"] for r in runs)
        lost = sum(len(r["lost"]) for r in runs)
        injected = total = 0
        for r in runs:
            random_faults = any(rule["rate"] < 1 for rule in r["faults"].get("plan", {}).get("faults", []))
            if random_faults:
                total += r["faults"].get("requests", 0)
                injected += sum(r["faults"].get("fired", {}).values())
        requests += total
        fired += injected
        good &= completed == len(runs) and duplicates == 0 and lost == 0
        rows.append(
            line(
                scenario,
                runs=str(len(runs)),
                completed=f"{completed / len(runs):.0%}",
                duplicates=str(duplicates),
                lost=f"{lost} of {acknowledgements}",
                injected=f"{injected} of {total} ({injected / total:.0%})" if total else "",
            )
        )

    def suite(junit: Path, path_part: str, scenario: str, **cells: str) -> tuple[int, int]:
        """A row of a suite's test cases (run, passed); the table is good only if all passed."""
        nonlocal good
        run, passed = junit_counts(junit, path_part)
        good &= run > 0 and run == passed
        rows.append(line(scenario, runs=str(run), completed=f"{passed}/{run}", **cells))
        return run, passed

    suite(fast_junit, "replay", "replay: recorded histories of every variant")

    run, passed = junit_counts(fast_junit, "test_faults")
    good &= run > 0 and run == passed
    rows.append(
        line(
            "time-skipping server: 2 variants under faults",
            runs=str(run),
            completed=f"{passed}/{run}",
            duplicates="0" if run and run == passed else "?",
            injected="~26% drawn",
        )
    )

    suite(slow_junit, "e2e/test_autopilot", "autopilot: worker killed over a shift change (real time)")

    abuse = ARTIFACTS / "abuse-matrix.json"
    tried = refused = 0
    if abuse.exists():
        matrix = json.loads(abuse.read_text())
        tried, refused = matrix["tried"], matrix["refused_correctly"]
    good &= tried >= 30 and tried == refused
    rows.append(
        line("abuse matrix: endpoint and CLI", bad=f"{tried} / {refused}" if tried else "did not run")
    )

    for scan in secrets:
        found = len(scan["found"])
        good &= found == 0
        where = (
            f"secrets: {scan['histories']} histories, {scan['lines']} log lines, {scan['secrets']} secrets"
        )
        rows.append(
            line(where, secrets=f"{found} found" + (f": {', '.join(scan['found'])}" if found else ""))
        )
    if not secrets:
        good = False
        rows.append(line("secrets scan", secrets="did not run"))

    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    share = f"{fired / requests:.1%}" if requests else "n/a"
    lines.append("")
    good &= requests > 0 and fired / requests >= 0.2
    lines.append(f"Injected API failures: {fired} of {requests} requests ({share}) in the fault-matrix runs;")
    lines.append("  fault mix per request: 10% HTTP 500, 6% 429 with Retry-After/ratelimit-reset, 4% dropped")
    lines.append("  connection, 6% write done but answer lost, 3% answer after the worker's 2 s timeout;")
    lines.append("  crash runs: one request answered 30 s late and the worker killed with SIGKILL meanwhile.")
    lines.append(f"Suites: fast part exit {fast_status}, crash and fault matrix exit {slow_status}.")
    lines.append("RESULT: " + ("PASS" if good else "FAIL"))
    return "\n".join(lines), good


def main() -> int:
    parser = argparse.ArgumentParser(prog="make reliability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="stacks run at once (default 2)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the last run")
    args = parser.parse_args()
    fast_junit, slow_junit = ARTIFACTS / "reliability-fast.xml", ARTIFACTS / "reliability-slow.xml"
    fast_status = slow_status = 0
    if not args.table_only:
        shutil.rmtree(RUNS, ignore_errors=True)
        (ARTIFACTS / "abuse-matrix.json").unlink(missing_ok=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        fast_status = pytest(FAST, fast_junit)
        slow = ["tests/reliability", "tests/e2e/test_autopilot.py"]
        slow_status = pytest(["-m", "reliability", "-n", str(args.workers), *slow], slow_junit)
        print(f"\nmake reliability took {(time.monotonic() - started) / 60:.1f} min\n")
    text, good = table(fast_junit, slow_junit, fast_status, slow_status)
    print(text)
    (ARTIFACTS / "reliability-table.txt").write_text(text + "\n")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
