"""`hof demo`: the platform with a simulated estate, in one command, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hof.errors import ConfigError
from hof.logs import open_log_file
from hof.metrics import registered_endpoints
from hof.settings import Settings, load_settings
from hof.stack import Stack
from hof.stack_cli import StopFlag, describe, recorded_running
from hof.status import metric_total, render, scrape, take_snapshot
from hof.waiting import within

__all__ = ["BackfillWatch", "demo_command", "forget_sessions", "parse_duration"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '2h', '7d' -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"{text!r} is not a duration like 90s, 5m, 2h or 7d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _child(name: str, argv: list[str], logs: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    logs.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open_log_file(logs / f"{name}.log") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hof.cli", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _demo_accounts(settings: Settings, env: dict[str, str]) -> Path:
    """An officer and a responder for the North patch and an admin, with fresh random passwords
    written to an owner-only file (a demo must not ship a known password)."""
    import secrets

    lines = []
    for name, role, patch in (
        ("officer", "housing_officer", "North"),
        ("responder", "responder", "North"),
        ("admin", "admin", "*"),
    ):
        email, password = f"{name}@demo.invalid", secrets.token_urlsafe(12)
        add = ["user", "add", email, "--name", f"Demo {name}", "--role", role, "--patch", patch]
        again = ["user", "password", email]
        for argv in (add, again):
            done = subprocess.run(
                [sys.executable, "-m", "hof.cli", "dashboard", *argv, "--password-stdin"],
                input=password + "\n",
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode == 0:
                break
            if "already an account" not in done.stderr:
                raise ConfigError(f"could not make the demo account {email}: {done.stderr}")
        lines.append(f"{role:16} {email:26} {password}")
    path = settings.state_dir.resolve() / "demo-accounts.txt"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


_DEMO_POLICY = """# Written by `hof demo`: the demo responder is on call all day.
# Responder alerts reach them by email and webhook (caught under STATE_DIR/notify).
[people.responder]
name = "Demo responder"
email = "responder@demo.invalid"
webhook = "{hook}/responder"

[[rotas]]
name = "demo"
team_lead = "responder"
[[rotas.shifts]]
start = "00:00"
end = "00:00"
people = ["responder"]

# The demo officer's digest of the North patch's new environmental alerts, hourly here
# (daily is the default), never in the night.
[people.officer]
name = "Demo officer"
email = "officer@demo.invalid"

[[digests]]
name = "north"
patches = ["North"]
to = ["officer"]
kinds = ["damp_mould", "cold", "heat", "ventilation", "device_offline", "low_battery"]
every_s = 3600
quiet_hours = {{ start = "22:00", end = "07:00" }}
"""


def _notify_catcher(
    settings: Settings, logs: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], dict[str, str], Path]:
    """The demo's SMTP catcher and webhook receiver (files under STATE_DIR/notify), and the
    settings that point the notifier at them."""
    from hof.stack.ports import free_port

    out = settings.state_dir.resolve() / "notify"
    out.mkdir(parents=True, exist_ok=True)
    # A stale address from an earlier run must not be printed as this one's.
    run = settings.state_dir.resolve() / "run"
    (run / f"notify-web-{settings.notify.client_id}.url").unlink(missing_ok=True)
    smtp_port, http_port = free_port(), free_port()
    hook = f"http://127.0.0.1:{http_port}"
    policy = out / "demo-policy.toml"
    policy.write_text(_DEMO_POLICY.format(hook=hook))
    with open_log_file(logs / "notify-catcher.log") as log:
        catcher = subprocess.Popen(
            [
                *(sys.executable, "-m", "notify.catcher", "--dir", str(out)),
                *("--smtp-port", str(smtp_port), "--http-port", str(http_port)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    cert = out / "catcher-cert.pem"
    deadline = time.monotonic() + 20.0
    while not cert.exists() and time.monotonic() < deadline and catcher.poll() is None:
        time.sleep(0.1)
    notify_env = {
        "HOF_NOTIFY__POLICY_FILE": str(policy),
        "HOF_NOTIFY__WEBHOOK_URL": f"{hook}/alert",
        "HOF_NOTIFY__SMTP_HOST": "127.0.0.1",
        "HOF_NOTIFY__SMTP_PORT": str(smtp_port),
        "HOF_NOTIFY__SMTP_CA_FILE": str(cert),
    }
    return catcher, notify_env, out


def _notify_url(settings: Settings) -> str | None:
    """Where the notifier's acknowledgement links point, once it has said (port 0 picks one)."""
    path = settings.state_dir.resolve() / "run" / f"notify-web-{settings.notify.client_id}.url"
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        try:
            return path.read_text().strip() or None
        except OSError:
            time.sleep(0.2)
    return None


def _telecare_plan(settings: Settings, homes: int, seed: int) -> tuple[dict[str, str], str]:
    """The rules engine's per-home settings, unless an overrides file is set already: each
    home's wall class (as a landlord's stock record gives it) and the simulated missed
    routine (a span of minutes for that one home); and a line saying who is who."""
    from simulator.estate import Estate
    from simulator.telecare import demo_overrides, routine_home, telecare_homes

    estate = Estate(homes, seed)
    chosen = telecare_homes(estate)
    routine = routine_home(estate)
    says = (
        f"falls, pendant presses and leaks in {', '.join(h.id for h in chosen)}"
        if chosen
        else "no telecare home in this estate"
    )
    if settings.alerts.overrides_file is not None:
        return {}, says
    path = settings.state_dir.resolve() / "demo-overrides.toml"
    path.write_text(demo_overrides(estate))
    if routine is not None:
        says += f"; {routine.id} misses its routine"
    return {"HOF_ALERTS__OVERRIDES_FILE": str(path)}, says


def _dashboard_url(settings: Settings, proc: subprocess.Popen[bytes]) -> str | None:
    """The dashboard's address once it has registered itself (it binds before it says so)."""
    import json

    registration = (
        settings.state_dir.resolve() / "run" / f"dashboard-{settings.dashboard.client_id}.json"
    )
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return str(json.loads(registration.read_text())["url"]).removesuffix("/metrics")
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
    return None


def _ingest_acknowledged(settings: Settings) -> float:
    """Messages the ingest workers registered in the state directory have acknowledged (stored,
    or refused); 0 while none answers."""
    import httpx

    total = 0.0
    for entry in registered_endpoints(settings.state_dir):
        if entry.get("service") != "ingest":
            continue
        try:
            samples = scrape(entry["url"])
        except httpx.HTTPError:
            continue
        total += metric_total(samples, "hof_ingest_acknowledged_total")
    return total


class BackfillWatch:
    """Whether the simulator's history is in InfluxDB: its log's line that the backfill is done
    (with how many messages it published), then ingest's count of messages acknowledged
    reaching that number. Ingest acknowledges only once a message is stored and in the order
    they came, and nothing else publishes readings in the demo, so that count is the
    history's own. A rules worker started then rebuilds the history from InfluxDB (a week of
    100 homes in 34 s on a quiet 2-core machine); started before, it finds nothing and judges
    the history message by message, 4-5 minutes for the same week (docs/rules.md, "The demo's
    first hour")."""

    def __init__(self, sim_log: Path, settings: Settings, bound_s: float) -> None:
        self.sim_log = sim_log
        self.settings = settings
        self.bound_s = bound_s
        self.began = time.monotonic()
        self.packs: int | None = None  # the history's messages, once the simulator says
        self.acknowledged = 0.0
        # The log is appended to: an earlier run's line is not this one's.
        try:
            self._offset = sim_log.stat().st_size
        except OSError:
            self._offset = 0
        self._rest = b""

    def _done_line(self) -> int | None:
        """The published count from the simulator's backfill-done line, once it is logged and
        says the history is whole (one cut short by a stop is not)."""
        import json

        try:
            with self.sim_log.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except OSError:
            return None
        self._offset += len(chunk)
        *lines, self._rest = (self._rest + chunk).split(b"\n")
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the odd line of a library that does not log JSON
            if (
                isinstance(entry, dict)
                and entry.get("event") == "simulate_backfill_done"
                and entry.get("complete") is True
            ):
                return int(entry["packs"])
        return None

    def poll(self) -> str | None:
        """`stored` once the history is, `timeout` once the bound has passed, else None."""
        if self.packs is None:
            self.packs = self._done_line()
        if self.packs is not None:
            self.acknowledged = _ingest_acknowledged(self.settings)
            if self.acknowledged >= self.packs:
                return "stored"
        if time.monotonic() - self.began >= self.bound_s:
            return "timeout"
        return None


def forget_sessions(settings: Settings, names: Sequence[str]) -> None:
    """End the broker's persistent sessions called `names`, and what is queued for them.

    The demo's rules on readings start once the history is stored, and rebuild from InfluxDB.
    A session left at the broker by an earlier demo in the same state directory would queue
    the whole history for them meanwhile, to be judged again (no news, but every message)
    before the live readings behind it."""
    import asyncio
    import contextlib

    from hof.mqtt import Link

    async def forget() -> None:
        for name in names:
            # A clean start ends the session it names; one that expires at once leaves none.
            link = Link(settings.mqtt, name="demo", client_id=name, clean_start=True)
            task = asyncio.create_task(link.run())
            try:
                await within(link.connected.wait(), settings.mqtt.timeout_s)
            except TimeoutError:
                _say(
                    f"  note         an earlier run's session {name} may still be at the broker "
                    f"(no connection within {settings.mqtt.timeout_s:g} s)"
                )
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    asyncio.run(forget())


def _say(text: str) -> None:
    """Print, but never let a closed terminal or pipe (`hof demo | head`) skip the clean-up:
    the children run in their own sessions and would be left behind."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Point stdout at /dev/null so that Python's exit flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    began = time.monotonic()
    duration = parse_duration(args.duration) if args.duration else None
    history = parse_duration(args.backfill) if args.backfill else 0.0
    rules_wait = parse_duration(args.rules_wait)
    if recorded_running(settings):
        raise ConfigError(
            f"a stack is already running from {settings.state_dir}; `hof stack down` first"
        )
    stack = Stack(settings)
    info = stack.up()
    # From here on, talk to the stack just started (its ports and credentials).
    settings = load_settings(state_dir=settings.state_dir, **info.settings())
    _say("House of the Future demo\n" + describe(info, settings))
    env = {
        **os.environ,
        "HOF_STATE_DIR": str(settings.state_dir.resolve()),
        "HOF_LOG_FORMAT": "json",
    }
    logs = settings.state_dir.resolve() / "logs"
    overrides, telecare = _telecare_plan(settings, args.homes, args.seed)
    # Falls and help calls are judged in a process of their own, and the bulk of readings
    # yields the CPU to it (docs/notify.md, "A process of its own for the telecare rules").
    bulk = {"HOF_INGEST__NICE": "10", "HOF_ALERTS__NICE": "10"}
    rules_env = {**env, **overrides, **bulk, "HOF_ALERTS__RULES": "rest"}
    children = {
        "ingest": _child("ingest", ["ingest"], logs, {**env, **bulk}),
        "alerts-telecare": _child(
            "alerts-telecare",
            ["alerts"],
            logs,
            {
                **env,
                **overrides,
                "HOF_ALERTS__RULES": "telecare",
                "HOF_ALERTS__CLIENT_ID": f"{settings.alerts.client_id}-telecare",
            },
        ),
    }
    catcher, notify_env, inbox = _notify_catcher(settings, logs, env)
    children["notify-catcher"] = catcher
    children["notify"] = _child("notify", ["notify"], logs, {**env, **notify_env})
    time.sleep(1.0)  # let ingest subscribe first, so the simulator's history flows straight in
    accounts = _demo_accounts(settings, env)
    registration = settings.state_dir.resolve() / "run"
    (registration / f"dashboard-{settings.dashboard.client_id}.json").unlink(missing_ok=True)
    children["dashboard"] = _child("dashboard", ["dashboard"], logs, env)
    sim = ["simulate", "--homes", str(args.homes), "--seed", str(args.seed), "--register"]
    sim += ["--telecare"]
    sim += ["--interval", str(args.interval)]
    if args.backfill:
        sim += ["--backfill", args.backfill]
    # The readings' rules start once the history is stored, so that their start-up rebuild
    # reads it from InfluxDB rather than judging it message by message (for a week, several
    # times longer): a week's history then shows damp homes' acted-on cases in the first
    # minutes. Falls never wait: the telecare worker above started at once.
    watch = None
    if history > 0:
        client = settings.alerts.client_id
        forget_sessions(settings, [client, f"{client}-events"])
        watch = BackfillWatch(logs / "simulate.log", settings, rules_wait)
    children["simulate"] = _child("simulate", sim, logs, env)
    if watch is None:
        children["alerts"] = _child("alerts", ["alerts"], logs, rules_env)
    # Retention on its own: downsample and expire, purge withdrawn streams (`hof status`).
    every = str(settings.rights.expire_every_s)
    children["rights"] = _child(
        "rights", ["rights", "--by", "hof-demo", "expire", "--every", every], logs, env
    )
    _say(
        f"  services     ingest, alerts and a simulated estate of {args.homes} homes; "
        f"logs in {logs}\n"
        "Readings are flowing. In another terminal: `.venv/bin/hof status --watch 5`.\n"
        "Ctrl-C stops everything."
    )
    if watch is not None:
        _say(
            f"  rules        falls, help calls and leaks are judged now; readings once the "
            f"{args.backfill} of history is stored (waiting up to {args.rules_wait})"
        )
    url = _dashboard_url(settings, children["dashboard"])
    _say(f"  dashboard    {url or 'did not start; see ' + str(logs / 'dashboard.log')}")
    _say(f"  accounts     {accounts} (owner-only): officer, responder and admin")
    ack = _notify_url(settings) or f"http://{settings.notify.http_host}:{settings.notify.http_port}"
    _say(
        f"  notifier     responder alerts go to the demo responder: mail in {inbox / 'mail'}, "
        f"webhooks in {inbox / 'webhook'};\n"
        f"               each mail has an acknowledgement link ({ack}/ack/...);\n"
        "               the demo officer's hourly digest of the North patch goes there too"
    )
    _say(
        f"  telecare     {telecare};\n"
        f"               the pendants show the notices (`pendant_shows` in {logs / 'simulate.log'})"
    )
    stop = StopFlag()
    started = time.monotonic()
    next_report = started + 15.0
    code = 0
    try:
        while not stop.set:
            if duration is not None and time.monotonic() - started >= duration:
                break
            if watch is not None and (outcome := watch.poll()) is not None:
                children["alerts"] = _child("alerts", ["alerts"], logs, rules_env)
                waited = time.monotonic() - began
                if outcome == "stored":
                    _say(
                        f"Rules on readings started: the {args.backfill} of history is stored "
                        f"({watch.packs:,} messages, {waited:.0f} s after the demo started)"
                    )
                else:
                    published = "?" if watch.packs is None else f"{watch.packs:,}"
                    _say(
                        f"Rules on readings started without the whole history: not stored "
                        f"within {args.rules_wait} (ingest acknowledged "
                        f"{watch.acknowledged:,.0f} of {published} messages; see "
                        f"{logs / 'simulate.log'} and {logs / 'ingest.log'})"
                    )
                watch = None
            for name, proc in children.items():
                if proc.poll() is not None and not (name == "simulate" and proc.returncode == 0):
                    _say(f"{name} exited with {proc.returncode}; see {logs / (name + '.log')}")
                    code = 1
                    stop.set = True
            failed = stack.failed_part()
            if failed:
                _say(f"{failed} stopped on its own; see its log under {stack.dir}")
                code = 1
                break
            if time.monotonic() >= next_report:
                report = render(take_snapshot(settings), None)
                if watch is not None:  # the status's warning of it is true, and expected here
                    report += (
                        "\n  (the demo starts the rules on readings once the history is stored)"
                    )
                _say("\n" + report)
                next_report += 30.0
            time.sleep(0.5)
    finally:
        _say("\n" + render(take_snapshot(settings), None))
        for proc in reversed(children.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        stack.down()
        _say("demo stopped")
    return code
