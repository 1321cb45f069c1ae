"""Runs the sandbox: `python -m sandbox --port 8099 --scenario sandbox/scenarios/demo.yaml`.

Writes `<data-dir>/ca.pem`, the CA the clients must trust, and serves HTTPS only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from sandbox.app import create_app
from sandbox.state import DEMO_SCENARIO, ScenarioError
from sandbox.storm import parse_size, storm
from sandbox.tls import prepare_tls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local stand-ins for PagerDuty, Slack and the Novalien platform API (HTTPS only).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1; the control routes have no auth)",
    )
    parser.add_argument("--port", type=int, default=8099, help="port to listen on (default: 8099)")
    parser.add_argument(
        "--scenario", type=Path, default=DEMO_SCENARIO, help="scenario YAML file (default: the demo)"
    )
    parser.add_argument(
        "--storm",
        metavar="I,T,R",
        help="instead of --scenario: the demo with I incidents, T pinned tickets and R rollouts for "
        "Alice (an alert storm, e.g. 2000,500,200)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".data/sandbox"),
        help="where the CA and certificates live (default: .data/sandbox)",
    )
    parser.add_argument(
        "--tls-name",
        action="append",
        default=[],
        help="another host name for the certificate (e.g. `sandbox` in Docker Compose); repeatable",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    args = parser.parse_args(argv)

    try:
        app = create_app(storm(*parse_size(args.storm)) if args.storm else args.scenario)
    except ValueError as error:
        print(f"sandbox: --storm {error}", file=sys.stderr)
        return 2
    except ScenarioError as error:
        print(f"sandbox: bad scenario file: {error}", file=sys.stderr)
        return 2

    tls = prepare_tls(args.data_dir, tuple(args.tls_name))
    base = (
        f"https://{'localhost' if args.host in ('127.0.0.1', '::1', 'localhost') else args.host}:{args.port}"
    )
    print(
        f"sandbox: scenario {app.state.store.state.scenario_name!r} "
        f"from {'--storm' if args.storm else args.scenario}\n"
        f"sandbox: trust {tls.ca_file}\n"
        f"sandbox: PagerDuty {base}/pagerduty  Slack {base}/slack/api/  platform {base}/platform/v1\n"
        f"sandbox: control {base}/_sandbox/(writes|state|reset|healthz)  "
        f"a person in Slack {base}/_sandbox/slack/(app|press|submit|views|ephemeral)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
