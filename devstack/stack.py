"""`make run`: the whole service on one machine, on embedded defaults.

Starts, in order: the Temporal dev server (persistent state in .data/temporal.db, the project's
search attributes registered, UI on :8233), the sandbox (PagerDuty, Slack and the platform API
on https://localhost:8099, unless real APIs are configured), and the worker. Prints what to do
next; Ctrl-C stops everything, worker first.

    python -m devstack [--scenario FILE] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from handover import visibility
from handover.settings import TEAM_IDS, Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "sandbox" / "scenarios" / "demo.yaml"
UI_PORT = 8233
ENDPOINT_PORT = 8080
CODEC_URL = f"http://localhost:{ENDPOINT_PORT}/codec"
"""With HANDOVER_PAYLOAD_KEYS, the dev server's UI decodes payloads here (docs/encryption.md, "The
codec endpoint"); the endpoint lets the UI's origin call it."""
METRICS_ADDRESS = "127.0.0.1:9464"
"""The worker's Prometheus exporter, unless HANDOVER_METRICS_ADDRESS says otherwise."""


def dev_server_storage(database: Path) -> list[str]:
    """`temporal server start-dev` flags for its SQLite file: in WAL mode with `synchronous=normal`.
    With the default (a rollback journal, synced at every commit) a write took 11-13 ms under
    acknowledgements at 50/s over 10 handovers, and as the dev server's one history shard takes its
    writes one at a time, each queued 55-75 ms for it (docs/bench.md); in WAL mode 2-3 ms, none
    queued. The file stays whole through any crash, and nothing committed is lost when a process
    dies (the server's own, kill -9 too); a power cut may lose the last commits, as if the server
    had stopped a moment earlier. Production runs a Temporal cluster (docs/production.md), not this file."""
    return [
        "--db-filename",
        str(database),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
    ]


DEMO_ADMINS = ["alice@novalien.com", "bob@novalien.com", "carol@novalien.com", "dave@novalien.com"]
DEMO_SERVICE = "offboarding-pipeline"
SANDBOX_SIGNING_SECRET = "sandbox-slack-signing-secret"
"""With the sandbox and no SLACK_SIGNING_SECRET: the endpoint and the sandbox's Slack app share it,
so presses in the sandbox's Slack reach the endpoint signed as Slack signs them."""


def scenario_people(scenario: Path) -> list[str]:
    """Who signs in to the console on a scenario: the demo's people, or another scenario's active
    platform admins (a team trying its own data)."""
    if scenario.resolve() == DEFAULT_SCENARIO.resolve():
        return DEMO_ADMINS
    from sandbox.state import read_scenario_file

    admins = read_scenario_file(scenario).get("platform", {}).get("admins", [])
    return [a["email"].lower() for a in admins if a.get("platform_admin", True) and a.get("active", True)]


def demo_tokens(settings: Settings, people: list[str] = DEMO_ADMINS) -> dict[str, str]:
    """Tokens for a scenario's people and a service, made once each and kept (in clear, 0600) in
    .data/endpoint/demo-tokens.json; the endpoint only ever sees their hashes."""
    from endpoint.__main__ import make_tokens

    kept = settings.data_dir / "endpoint" / "demo-tokens.json"
    known = json.loads(kept.read_text()) if kept.exists() else {}
    service = f"service:{DEMO_SERVICE}"
    missing = [who for who in people if who not in known]
    if missing or service not in known:
        known.update(
            make_tokens(missing, [] if service in known else [DEMO_SERVICE], settings.endpoint_tokens_file)
        )
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.touch(mode=0o600)
        kept.write_text(json.dumps(known, indent=2) + "\n")
    return {who: known[who] for who in [*people, service]}


class StackError(Exception):
    pass


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "localhost", int(port)


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(what: str, ready, process: subprocess.Popen | None, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode}; see {log}")
        time.sleep(0.2)
    raise StackError(f"{what} did not come up within {timeout:.0f}s; see {log}")


def sandbox_healthy(url: str, ca_file: Path) -> bool:
    if not ca_file.exists():
        return False
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        with urllib.request.urlopen(f"{url}/_sandbox/healthz", context=context, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


class Stack:
    """The child processes, started in order and stopped in reverse."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.metrics = settings.metrics_address or METRICS_ADDRESS

    def spawn(
        self, name: str, command: list[str], to_log: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab") if to_log else None
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        self.processes.append((name, process))
        return process

    def temporal(self) -> None:
        host, port = _host_port(self.settings.temporal_address)
        if host not in ("localhost", "127.0.0.1"):
            print(f"Temporal: using {self.settings.temporal_address} (not starting a local server)")
            return
        if listening(host, port):
            raise StackError(
                f"something listens on {host}:{port} already; is `make run` running in another "
                "terminal? Stop it, or set TEMPORAL_ADDRESS to use that server."
            )
        binary = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
        if binary is None:
            raise StackError("the `temporal` CLI is missing; run `make install`")
        data = self.settings.data_dir
        command = [
            binary,
            "server",
            "start-dev",
            *dev_server_storage(data / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            *(
                ["--ui-codec-endpoint", f"http://localhost:{ENDPOINT_PORT}/codec"]
                if self.settings.payload_keys
                else []
            ),
            "--ui-port",
            str(UI_PORT),
            "--namespace",
            self.settings.temporal_namespace,
            "--log-level",
            "warn",
        ]
        command += visibility.dev_server_flags()
        process = self.spawn("temporal", command)
        wait_for(
            "Temporal",
            lambda: listening(host, port) and listening("127.0.0.1", UI_PORT),
            process,
            60,
            self.logs / "temporal.log",
        )

    def sandbox(self, scenario: Path) -> None:
        url = self.settings.sandbox_url.rstrip("/")
        ca_file = self.settings.data_dir / "sandbox" / "ca.pem"
        port = int(url.rsplit(":", 1)[1])
        if listening("127.0.0.1", port):
            raise StackError(f"port {port} is taken already; stop whatever runs there, or set SANDBOX_URL")
        process = self.spawn(
            "sandbox",
            [
                sys.executable,
                "-m",
                "sandbox",
                "--port",
                str(port),
                "--scenario",
                str(scenario),
                "--data-dir",
                str(self.settings.data_dir / "sandbox"),
            ],
        )
        wait_for("the sandbox", lambda: sandbox_healthy(url, ca_file), process, 30, self.logs / "sandbox.log")

    def worker(self) -> None:
        process = self.spawn(
            "worker",
            [sys.executable, "worker.py"],
            to_log=False,
            env={"HANDOVER_METRICS_ADDRESS": self.metrics},
        )
        time.sleep(1.5)
        if process.poll() is not None:
            raise StackError(f"the worker exited with code {process.returncode}; see its output above")

    def _ui_may_decode(self) -> dict[str, str]:
        """The local Temporal UI's origin may read the codec endpoint's answers (CORS), when payloads
        are encrypted and nothing else is configured. It still needs the person's codec cookie."""
        if not self.settings.payload_keyring() or self.settings.codec_cors_origins:
            return {}
        return {"HANDOVER_CODEC_CORS_ORIGINS": f"http://localhost:{UI_PORT},http://127.0.0.1:{UI_PORT}"}

    def _signing_secret(self, sandbox: bool) -> dict[str, str]:
        if not sandbox or self.settings.slack_signing_secret is not None:
            return {}
        return {"SLACK_SIGNING_SECRET": SANDBOX_SIGNING_SECRET}

    def endpoint(self, sandbox: bool = False) -> None:
        if listening("127.0.0.1", ENDPOINT_PORT):
            raise StackError(f"port {ENDPOINT_PORT} is taken already; stop whatever runs there")
        process = self.spawn(
            "endpoint",
            [sys.executable, "-m", "endpoint", "--host", "127.0.0.1", "--port", str(ENDPOINT_PORT)],
            env={**self._ui_may_decode(), **self._signing_secret(sandbox)},
        )
        wait_for(
            "the endpoint",
            lambda: listening("127.0.0.1", ENDPOINT_PORT),
            process,
            30,
            self.logs / "endpoint.log",
        )

    def slack_app(self) -> None:
        """The sandbox's Slack app posts its interactions (buttons, forms) to this endpoint."""
        secret = self.settings.slack_signing_secret
        body = {
            "request_url": f"http://127.0.0.1:{ENDPOINT_PORT}/slack/interactivity",
            "signing_secret": secret.get_secret_value() if secret is not None else SANDBOX_SIGNING_SECRET,
        }
        context = ssl.create_default_context(cafile=str(self.settings.data_dir / "sandbox" / "ca.pem"))
        url = self.settings.sandbox_url.rstrip("/") + "/_sandbox/slack/app"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, context=context, timeout=10):
            pass

    def stop(self) -> None:
        for name, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    print(f"{name} did not stop in 15s; killing it")
                    process.kill()
                    process.wait()
        self.processes.clear()

    def watch(self) -> None:
        """Until Ctrl-C, or until a part dies (then everything stops: no half-running stack)."""
        while True:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise StackError(f"{name} exited with code {process.returncode}; stopping the rest")
            time.sleep(0.5)


def team_ids(settings: Settings) -> str:
    """The team's own ids, as set for this stack (the CLI in another terminal needs them too)."""
    defaults = Settings.model_fields
    changed = []
    for name in TEAM_IDS:
        value = getattr(settings, name)
        if value != defaults[name].default:
            text = ",".join(value) if isinstance(value, list) else str(value)
            changed.append(f"{defaults[name].alias}={shlex.quote(text)}")
    return " ".join(changed)


def try_next(settings: Settings, sandbox: bool, people: list[str] = DEMO_ADMINS) -> list[str]:
    """What the banner suggests: commands on lines of their own (a trailing `# comment` breaks a
    paste into zsh), each finishing in minutes; tests/test_starter.py runs them."""
    starter = ".venv/bin/python starter.py"
    if not sandbox:  # real APIs: `make demo` and --demo are for the sandbox only
        return [
            "  Check the accounts a handover needs, changing nothing:",
            f"    {starter} doctor OUTGOING_EMAIL INCOMING_EMAIL",
            "  What a handover would move and wait for, changing nothing:",
            f"    {starter} plan OUTGOING_EMAIL INCOMING_EMAIL",
            "  Every command:",
            f"    {starter} --help",
        ]
    if people != DEMO_ADMINS and len(people) >= 2:  # a team's own scenario on the sandbox
        outgoing, incoming = people[:2]
        return [
            "  Your scenario: check it, see what a handover would move, then one with 5 minutes of overlap",
            "  (answer as each person in the console, or with starter.py: see --help):",
            *([f"    export {team_ids(settings)}"] if team_ids(settings) else []),
            f"    {starter} doctor {outgoing} {incoming}",
            f"    {starter} plan {outgoing} {incoming}",
            f"    {starter} start {outgoing} {incoming} --overlap 5m --demo",
            f"    {starter} status {outgoing}",
            "  Every command:",
            f"    {starter} --help",
        ]
    ca = settings.ca_file or settings.data_dir / "sandbox" / "ca.pem"
    return [
        "  A whole planned handover on the demo scenario, both people played for you (about a minute):",
        "    make demo",
        "  Or one you play yourself, with 5 minutes of overlap: the demo scenario afresh, then the start",
        "  (answer as each person in the console, or with starter.py: see --help):",
        f"    curl -sS --cacert {ca} -X POST {settings.sandbox_url.rstrip('/')}/_sandbox/reset",
        f"    {starter} start alice@novalien.com bob@novalien.com --overlap 5m --demo",
        f"    {starter} status alice@novalien.com",
        "  Every command:",
        f"    {starter} --help",
    ]


def banner(
    settings: Settings,
    sandbox: bool,
    logs: Path,
    tokens: dict[str, str],
    metrics: str,
    people: list[str] = DEMO_ADMINS,
) -> str:
    lines = [
        "",
        "On-call handover service is up.",
        f"  Temporal        {settings.temporal_address} (namespace {settings.temporal_namespace})",
        f"  Temporal UI     http://localhost:{UI_PORT}",
    ]
    if settings.payload_keyring():
        lines += [
            "                  payloads are encrypted: to read them in the UI, sign in to the console",
            '                  in the same browser, then turn on "Include cross-origin credentials" in',
            '                  the UI\'s codec settings (docs/threat-model.md, "The Temporal UI")',
        ]
    if sandbox:
        lines += [
            f"  Sandbox         {settings.sandbox_url} (PagerDuty, Slack, platform API)",
            f"  Sandbox CA      {settings.data_dir / 'sandbox' / 'ca.pem'}",
            "  Sandbox Slack   its app posts button presses and forms to the endpoint: press them with",
            "                  POST /_sandbox/slack/press and /submit (docs/sandbox.md)",
        ]
    lines += [
        f"  Worker          task queue {settings.task_queue}; metrics on http://{metrics}/metrics",
        f"  Endpoint        http://localhost:{ENDPOINT_PORT}  (console; API docs at /docs)",
        f"  Logs            {logs}/",
        "",
        "Next, in another terminal:",
        *try_next(settings, sandbox, people),
        "",
        f"Ctrl-C stops everything (handovers are kept in {settings.data_dir}/ and resume on the next "
        "`make run`).",
        "",
    ]
    if tokens:
        at = lines.index("Next, in another terminal:")
        lines[at:at] = [
            f"Tokens: open http://localhost:{ENDPOINT_PORT} and sign in with one (kept in "
            f"{settings.data_dir / 'endpoint' / 'demo-tokens.json'}):",
            *[f"  {who:<28} {token}" for who, token in tokens.items()],
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n\n")[0])
    arguments.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="sandbox scenario file")
    arguments.add_argument("--no-sandbox", action="store_true", help="do not start the sandbox")
    args = arguments.parse_args(argv)

    settings = Settings.load_or_exit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logs = settings.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    use_sandbox = settings.uses_sandbox and not args.no_sandbox
    stack = Stack(settings, logs)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background (SIGINT ignored)
    try:
        print("Starting Temporal dev server ...", flush=True)
        stack.temporal()
        if use_sandbox:
            print("Starting the sandbox ...", flush=True)
            stack.sandbox(args.scenario)
        print("Starting the worker ...", flush=True)
        stack.worker()
        people = scenario_people(args.scenario) if use_sandbox else []
        tokens = demo_tokens(settings, people) if use_sandbox else {}
        print("Starting the endpoint and the console ...", flush=True)
        stack.endpoint(use_sandbox)
        if use_sandbox:
            stack.slack_app()
        print(banner(settings, use_sandbox, logs, tokens, stack.metrics, people), flush=True)
        stack.watch()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        print("\nStopping: endpoint, worker, sandbox, Temporal ...", flush=True)
        stack.stop()
        print("Stopped.")
        return 0
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()  # whatever happened, no part of the stack is left running
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
