"""Runs the endpoint: `python -m endpoint [--host 127.0.0.1] [--port 8080]`, and makes tokens:
`python -m endpoint tokens --admin alice@novalien.com --service offboarding-pipeline`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import uvicorn

from endpoint.auth import hash_token, new_token
from handover import logs, tracing
from handover.settings import Settings
from handover.temporal import connect_or_exit, run_or_leave


def make_tokens(admins: list[str], services: list[str], tokens_file: Path) -> dict[str, str]:
    """New tokens for these people and services, added to the (hashed) tokens file; returns them
    in clear, to hand out once."""
    data = json.loads(tokens_file.read_text()) if tokens_file.exists() else {"service": {}, "admins": {}}
    issued = {}
    for email in admins:
        token = new_token()
        data.setdefault("admins", {}).setdefault(email.lower(), []).append(hash_token(token))
        issued[email.lower()] = token
    for name in services:
        token = new_token()
        data.setdefault("service", {})[name] = hash_token(token)
        issued[f"service:{name}"] = token
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    # Whole or not at all: a running endpoint reads the file again as soon as it changes.
    written = tokens_file.with_name(f".{tokens_file.name}.{os.getpid()}")
    written.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(written, tokens_file)
    return issued


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m endpoint", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    commands = parser.add_subparsers(dest="command")
    tokens = commands.add_parser("tokens", help="issue tokens (stored hashed) and print them once")
    tokens.add_argument("--admin", action="append", default=[], help="an admin's email (repeatable)")
    tokens.add_argument("--service", action="append", default=[], help="a service's name (repeatable)")
    args = parser.parse_args(argv)
    settings = Settings.load_or_exit()
    if args.command == "tokens":
        if not args.admin and not args.service:
            parser.error("tokens: name at least one --admin or --service")
        for who, token in make_tokens(args.admin, args.service, settings.endpoint_tokens_file).items():
            print(f"{who}\t{token}")
        print(
            f"(stored hashed in {settings.endpoint_tokens_file}; a running endpoint takes them at once, "
            "no restart needed; these tokens are not shown again)",
            file=sys.stderr,
        )
        return 0
    logs.configure()
    logs.hide(settings)
    from endpoint.app import create_app

    run_or_leave(connect_or_exit(settings))  # before serving: out of reach is one line, not a trace
    tracing.configure("endpoint")  # (only with OTEL_EXPORTER_OTLP_ENDPOINT set)
    try:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None, access_log=False)
    finally:
        tracing.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
