"""The `hof` command: one entry point for the stack, the services, the simulator and status."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from types import ModuleType
from typing import Any

from hof import __version__
from hof.errors import HofError
from hof.logs import configure_logging
from hof.settings import Settings, load_settings

__all__ = ["main", "run_until_signalled"]

Handler = Callable[[argparse.Namespace, Settings], int]


def run_until_signalled(work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> int:
    """Run `work(stop)` on a fresh event loop; SIGTERM or Ctrl-C sets `stop` for a clean drain."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def request_stop(_signum: int, _frame: object) -> None:
            loop.call_soon_threadsafe(stop.set)

        # Python-level handlers, not `loop.add_signal_handler`: asyncio learns of those from a
        # byte in its self-pipe, which is also written once per `call_soon_threadsafe`. A burst
        # of MQTT messages can fill that pipe; a SIGTERM arriving then lost its byte and was
        # never seen (CI: a worker ignored SIGTERM for 30 s). A Python-level handler runs in
        # the main thread whatever the pipe holds.
        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            await work(stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    asyncio.run(runner())
    return 0


def _cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.redacted(), indent=2))
    return 0


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    _yield_cpu(settings.ingest.nice, "ingest")
    from hof.heap import settle_heap
    from ingest.service import serve

    settle_heap()  # what is loaded by now lives as long as the worker
    return run_until_signalled(lambda stop: serve(settings, stop=stop))


def _yield_cpu(nice: int, service: str) -> None:
    """Lower this process's CPU priority (hof/cpu.py), before any thread starts."""
    from hof.cpu import yield_cpu

    done = yield_cpu(nice)
    if nice > 0:
        import structlog

        structlog.get_logger(__name__).info("cpu_priority", service=service, done=done)


def _cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.service import serve

    return run_until_signalled(lambda stop: serve(settings, stop=stop))


def _cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    _yield_cpu(settings.alerts.nice, "alerts")  # before the import: numpy starts OpenBLAS's threads
    from alerts.service import serve

    return run_until_signalled(lambda stop: serve(settings, stop=stop))


def _cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    from notify.service import serve

    return run_until_signalled(lambda stop: serve(settings, stop=stop))


def _cmd_stack(args: argparse.Namespace, settings: Settings) -> int:
    from hof.stack_cli import stack_command

    return stack_command(args, settings)


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from hof.status import status_command

    return status_command(args, settings)


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hof.demo import demo_command

    return demo_command(args, settings)


# Commands that a module provides (`add_arguments(parser)` and `run(args, settings)`), with the
# one line `hof --help` shows. A provider is imported only when its command runs (or shows its
# own --help): listing it must not cost an ingest worker the simulator's numpy or the
# dashboard's SQLAlchemy (tests/hof/test_cli_imports.py).
PROVIDED: tuple[tuple[str, str, str], ...] = (
    ("simulate", "simulator.cli", "simulate an estate of homes publishing over MQTT"),
    ("provision", "hof.provision", "provision a device: its id, MQTT credential and config"),
    ("firmware", "hof.firmware", "signed firmware updates: keygen, pack, sign, verify"),
    ("dashboard", "dashboard.cli", "run the dashboard; manage accounts, API tokens and homes"),
    ("rights", "hof.rights.cli", "tenants' data rights: consent, export, erasure, retention"),
)


def _installed(module: str) -> bool:
    """Whether the package that provides `module` is installed, without importing it."""
    return importlib.util.find_spec(module.partition(".")[0]) is not None


def _provider(module: str) -> ModuleType | None:
    """The module of a provided command, if its package is installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None  # the package is not installed: no such command
        raise


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in `argv`: the first word that is not an option (`hof`'s own options
    take no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv` (default: this process's): the provided command it names, if any,
    is imported and given its arguments; the others are only listed."""
    command = _command_in(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="hof",
        description=(
            "House of the Future: sensors in tenants' homes for damp, mould, cold, "
            "overheating and telecare. Settings come from HOF_* variables, the TOML file "
            "named by HOF_CONFIG (or ./hof.toml), and the local stack's endpoints; "
            "`hof config` prints them."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hof {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("config", help="print the effective settings (secrets hidden)")
    p.set_defaults(handler=_cmd_config)

    p = sub.add_parser(
        "stack",
        help="run the local Mosquitto and InfluxDB",
        description="Start or stop the local stack (Mosquitto and InfluxDB from Debian's "
        "packages) with the project's configs under STATE_DIR/stack.",
    )
    stack_sub = p.add_subparsers(dest="stack_command", required=True, metavar="ACTION")
    up = stack_sub.add_parser("up", help="start both; stay in the foreground until Ctrl-C")
    up.add_argument("--detach", action="store_true", help="start them in the background and return")
    stack_sub.add_parser("down", help="stop the stack a detached `up` started")
    stack_sub.add_parser("status", help="say whether the recorded stack is running")
    stack_sub.add_parser(
        "nats-stream",
        help="on the NATS cluster the settings name (nats.servers), make the stream of devices' "
        "publishes that ingest reads, before any MQTT client connects (docs/scaling.md)",
    )
    p.set_defaults(handler=_cmd_stack)

    p = sub.add_parser(
        "ingest",
        help="run an ingest worker (broker -> InfluxDB)",
        description="Consume readings and events with an MQTT 5 shared subscription, "
        "validate them against the contract, write them to InfluxDB in batches, and "
        "acknowledge them only once stored. Runs until SIGTERM or Ctrl-C, then drains.",
    )
    p.set_defaults(handler=_cmd_ingest)

    p = sub.add_parser(
        "gateway",
        help="run a home gateway (home broker -> durable queue -> platform)",
        description="Validate the home's messages against the contract, commit them to a "
        "durable SQLite queue before acknowledging them, and forward them to the platform "
        "broker, events first; escalate falls and help calls locally when the platform "
        "cannot be reached. Runs until SIGTERM or Ctrl-C, then drains. docs/gateway.md.",
    )
    p.set_defaults(handler=_cmd_gateway)

    p = sub.add_parser(
        "alerts",
        help="run a rules-engine worker (broker -> rules -> alert store)",
        description="Evaluate readings and events against the rules (damp and mould, cold, "
        "heat, ventilation, falls, help calls, leaks, smoke, inactivity, device health) and "
        "keep one alert per condition in the alert store. Rule state is rebuilt from "
        "InfluxDB at start-up. HOF_ALERTS__RULES=telecare judges only the telecare events "
        "(falls, help calls, leaks, smoke, tamper) and =rest everything else: run one of each "
        "so that a burst of readings cannot hold up a fall (docs/rules.md). Runs until "
        "SIGTERM or Ctrl-C.",
    )
    p.set_defaults(handler=_cmd_alerts)

    p = sub.add_parser(
        "notify",
        help="run the notifier (responder alerts -> escalation -> people and devices)",
        description="Watch the alert store for responder alerts (falls, help calls, smoke, "
        "leaks, inactivity, telecare devices offline) and run each one's escalation policy "
        "until it is acknowledged or resolved: webhook, email and the other configured "
        "channels, retried and recorded per attempt; the tenant's devices are told when help "
        "is coming. Serves the acknowledgement link on notify.http_host:http_port. Policies, "
        "people and rotas come from notify.policy_file (docs/notify.md); "
        "HOF_NOTIFY__WEBHOOK_URL posts every responder alert to one URL. Timers live in the "
        "store, so a restart resumes them; several notifiers may run at once. Runs until "
        "SIGTERM or Ctrl-C.",
    )
    p.set_defaults(handler=_cmd_notify)

    p = sub.add_parser(
        "status",
        help="show what is flowing: messages in, points written, rejects by reason",
    )
    p.add_argument(
        "--watch", type=float, metavar="SECONDS", help="refresh every SECONDS, with rates"
    )
    p.add_argument("--count", type=int, default=0, help="with --watch: stop after N refreshes")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(handler=_cmd_status)

    p = sub.add_parser(
        "demo",
        help="run the platform with a simulated estate (stack, services, dashboard)",
        description="Start the local stack, ingest, the rules engine, the dashboard and the "
        "simulator (its homes entered in the registry), and keep them running until Ctrl-C. "
        "Demo accounts are written to STATE_DIR/demo-accounts.txt. Watch it with "
        "`hof status --watch 5` in another terminal.",
    )
    p.add_argument("--homes", type=int, default=100, help="homes in the estate (default 100)")
    p.add_argument("--seed", type=int, default=1, help="the estate's random seed (default 1)")
    # A week, so that damp homes are acted on in the demo's first minutes: the damp rule
    # needs 7 days of the wall's month (docs/rules.md, "The demo's first hour").
    p.add_argument(
        "--backfill", default="7d", help="history to publish first, e.g. 1d (default 7d)"
    )
    p.add_argument(
        "--interval",
        type=float,
        default=60.0,
        help="seconds between a sensor's readings (default 60, so the demo moves; "
        "battery sensors use the contract's 300)",
    )
    p.add_argument("--duration", help="stop after this long (e.g. 5m); default: until Ctrl-C")
    p.add_argument(
        "--rules-wait",
        default="5m",
        help="the rules on readings start once the backfill is stored, or after this long "
        "(default 5m); falls are judged from the start",
    )
    p.set_defaults(handler=_cmd_demo)

    for name, module, summary in PROVIDED:
        if name != command:
            if _installed(module):
                sub.add_parser(name, help=summary)
            continue
        provider = _provider(module)
        if provider is None:
            continue
        p = sub.add_parser(name, help=summary, description=provider.__doc__)
        provider.add_arguments(p)
        p.set_defaults(handler=provider.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format, service=f"hof-{args.command}")
        handler: Handler = args.handler
        return int(handler(args, settings))
    except HofError as exc:
        print(f"hof: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
