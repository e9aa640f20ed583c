"""The demo's first hour: are there cases of each kind in the homes the simulator made damp or
cold, and none flapping?

    .venv/bin/python bench/cases/demo_hour.py [--homes 100] [--seed 1] [--duration 6m]
                                              [--backfill 7d]

Runs `hof demo` as a user would (its own stack, ingest, the rules engine, the notifier, the
dashboard and the simulated estate with its week of history), in a state directory of its own
on free ports (kept afterwards, under the system's temporary directory), for `--duration` of
wall time, then reads the demo's alert store: every
environmental case by rule, severity and the archetype the simulator gave its home, and each
case's state changes (raised, severity updated, cleared, reopened). A case that cleared and
reopened more than 3 times, or changed state more than 10 times, is flapping. Then when, after
the demo was started, the dashboard was ready, the simulator's history was published, the
rules on readings were ready, and the first damp case was acted on (raised or graded
significant or worse), from the services' logs and the store's history.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hof.alertstore.api import AlertStore
from hof.alertstore.records import AlertFilter, HistoryEntry
from hof.alertstore.vocabulary import Action, Severity
from hof.settings import load_settings
from simulator.estate import Estate

ENVIRONMENTAL = ("damp_mould", "excess_cold", "overheating", "poor_ventilation")
MAX_REOPENINGS = 3
MAX_CHANGES = 10
STATE_CHANGES = (Action.RAISED, Action.CLEARED, Action.REOPENED)
# The rows whose severity is the case's as it was raised or made worse.
RAISED_AS = (Action.RAISED, Action.UPDATED, Action.REOPENED)


def state_change(entry: HistoryEntry) -> bool:
    """Whether a history row changed the case: opened, cleared, reopened or made worse. Not a
    routine update of its evidence, a day counted or its hold begun, which say more of the same
    case (each was a "change" here, and a case in its hold said so twice)."""
    if entry.action is Action.UPDATED:
        return "severity_from" in entry.detail
    return entry.action in STATE_CHANGES


ACTED_ON = (Severity.SIGNIFICANT, Severity.SEVERE, Severity.EMERGENCY)


def run_demo(state_dir: Path, homes: int, seed: int, duration: str, backfill: str) -> int:
    env = {
        **os.environ,
        "HOF_STATE_DIR": str(state_dir),
        "HOF_DASHBOARD__PORT": "0",
        "HOF_NOTIFY__HTTP_PORT": "0",
    }
    hof = Path(sys.executable).with_name("hof")
    argv = [str(hof), "demo", "--homes", str(homes), "--seed", str(seed)]
    argv += ["--duration", duration, "--backfill", backfill]
    with (state_dir / "demo.out").open("wb") as out:
        done = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    return done.returncode


def _first(path: Path, event: str, **want: object) -> float | None:
    """When a service's JSON log first has `event` (with the fields `want`), epoch seconds."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == event and all(entry.get(k) == v for k, v in want.items()):
            return dt.datetime.fromisoformat(entry["timestamp"]).timestamp()
    return None


def timeline(state_dir: Path, began: float, first_damp: float | None) -> None:
    logs = state_dir / "logs"
    points: dict[str, float | None] = {
        "dashboard listening": _first(logs / "dashboard.log", "dashboard_listening"),
        "ingest ready": _first(logs / "ingest.log", "ingest_ready"),
        "history published": _first(logs / "simulate.log", "simulate_backfill_done"),
        "rules on readings rebuilt": _first(logs / "alerts.log", "alerts_rebuilt", why="start"),
        "rules on readings ready": _first(logs / "alerts.log", "alerts_ready"),
        "first acted-on damp case": first_damp,
    }
    said = ", ".join(
        f"{what} {'never' if at is None else f'{at - began:.0f} s'}" for what, at in points.items()
    )
    print(f"after the demo started: {said}")


def report(state_dir: Path, homes: int, seed: int, began: float) -> bool:
    settings = load_settings(state_dir=state_dir)
    store = AlertStore.from_settings(settings)
    estate = Estate(homes, seed)
    kind = {home.id: home.archetype.label for home in estate.homes}
    print(f"homes by archetype: {dict(Counter(kind.values()))}")
    alerts = []
    offset = 0
    while True:
        page = store.list(AlertFilter(), order="newest", limit=store.page_size_max, offset=offset)
        alerts += [a for a in page.items if a.rule in ENVIRONMENTAL]
        offset += len(page.items)
        if offset >= page.total or not page.items:
            break
    cases: Counter[tuple[str, str, str]] = Counter()
    homes_with: dict[tuple[str, str], set[str]] = {}
    flapping = []
    worst_reopen = worst_changes = 0
    first_damp: float | None = None
    for alert in alerts:
        archetype = kind.get(alert.home, "?")
        cases[(alert.rule, archetype, alert.severity.value)] += 1
        homes_with.setdefault((alert.rule, archetype), set()).add(alert.home)
        history = store.get(alert.id).history
        changes = [h for h in history if state_change(h)]
        reopened = sum(1 for h in history if h.action is Action.REOPENED)
        worst_reopen, worst_changes = max(worst_reopen, reopened), max(worst_changes, len(changes))
        if reopened > MAX_REOPENINGS or len(changes) > MAX_CHANGES:
            flapping.append((alert.home, alert.rule, alert.room, reopened, len(changes)))
        if alert.rule == "damp_mould":
            for h in history:
                if h.action in RAISED_AS and h.detail.get("severity") in ACTED_ON:
                    at = h.at.replace(tzinfo=h.at.tzinfo or dt.UTC).timestamp()
                    first_damp = at if first_damp is None else min(first_damp, at)
    store.close()
    print(f"environmental cases: {len(alerts)}")
    for (rule, archetype, severity), n in sorted(cases.items()):
        print(f"  {rule:<17} {archetype:<12} {severity:<12} {n}")
    for rule in ENVIRONMENTAL:
        held = {a: len(h) for (r, a), h in homes_with.items() if r == rule}
        print(f"  {rule}: homes with a case, by archetype: {held}")
    print(
        f"most state changes of a case: {worst_changes}; most reopenings: {worst_reopen}; "
        f"flapping (> {MAX_REOPENINGS} reopenings or > {MAX_CHANGES} changes): {flapping}"
    )
    damp = homes_with.get(("damp_mould", "damp"), set())
    cold = homes_with.get(("excess_cold", "cold"), set())
    timeline(state_dir, began, first_damp)
    ok = bool(damp) and bool(cold) and not flapping
    print(
        f"damp cases in damp homes: {len(damp)}; cold cases in cold homes: {len(cold)}; "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", default="6m")
    parser.add_argument("--backfill", default="7d")  # hof demo's default
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="hof-demo-hour-"))
    began = time.monotonic()
    wall = time.time()
    code = run_demo(state_dir, args.homes, args.seed, args.duration, args.backfill)
    print(f"hof demo exited {code} after {time.monotonic() - began:.0f} s ({state_dir})")
    ok = report(state_dir, args.homes, args.seed, wall)
    sys.exit(0 if ok and code == 0 else 1)


if __name__ == "__main__":
    main()
