"""Tenants' data rights: consent per data stream, subject access export, erasure, retention.

  hof rights consent HOME --stream activity --withdraw     record a decision; services obey it
  hof rights consents HOME                                  a home's consents and their history
  hof rights sync                                           publish every home's consents again
  hof rights export HOME [-o FILE]                          everything held about a home (a zip)
  hof rights erase HOME --reason TEXT                       delete everything held about a home
  hof rights expire [--every SECONDS]                       retention: downsample, expire, purge

Every operation is written to the audit log under --by (default: your login name at cli).
docs/data-protection.md says which data is kept, why, for how long, and who can see it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hof.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hof.rights.records import Actor

__all__ = ["add_arguments", "run"]

STREAMS = ("environment", "activity", "telecare")
BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--by",
        default=f"{getpass.getuser()}@cli",
        help="who is acting, for the audit log (default: your login name at cli)",
    )
    sub = parser.add_subparsers(dest="rights_command", required=True, metavar="ACTION")

    p = sub.add_parser(
        "consent",
        help="record a home's consent to one data stream, given or withdrawn",
        description="Append a consent decision for a home and data stream (environment: "
        "temperature, humidity, CO2, light, leaks, smoke; activity: movement, door contacts, "
        "check-ins; telecare: falls and alarm presses) and publish the home's consents to the "
        "running services, which drop a withdrawn stream where it enters within seconds. A "
        "withdrawal schedules the deletion of what was held under it (`hof rights expire`).",
    )
    p.add_argument("home", help="the home's id (as in its MQTT topics)")
    p.add_argument("--stream", required=True, choices=STREAMS)
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--grant", action="store_true", help="the stream may be collected")
    given.add_argument("--withdraw", action="store_true", help="it may not (any more)")
    p.add_argument(
        "--basis",
        default="consent",
        choices=BASES,
        help="the lawful basis (UK GDPR Art. 6(1)); default consent",
    )
    p.add_argument("--note", default="", help="e.g. where the signed form is kept")

    p = sub.add_parser("consents", help="show a home's current consents and their history")
    p.add_argument("home")

    sub.add_parser(
        "sync",
        help="publish every recorded home's consents to the services again",
        description="Publish each home's current consents, retained, on hof/consent/{home}: "
        "after restoring a broker, or if a decision was recorded while it was unreachable.",
    )

    p = sub.add_parser(
        "export",
        help="subject access: everything held about a home, as one zip",
        description="Write one zip with a plain-words README: the registry entry and consents, "
        "the readings as CSV per measurement, alerts and cases with their history, the "
        "notifications sent, and the audit of who viewed the home. The export is audited.",
    )
    p.add_argument("home")
    p.add_argument(
        "-o", "--output", type=Path, help="the zip to write (default: HOME-subject-access.zip)"
    )

    p = sub.add_parser(
        "erase",
        help="erasure: delete everything held about a home",
        description="Delete the home's points from InfluxDB, its rows from the alert store "
        "(alerts, their history, notifications, consents, the registry entry) and its devices' "
        "retained status and config on the broker, tell the services to collect nothing more "
        "from it, and audit the erasure with its reason (counts only). The audit log is kept. "
        "Safe to repeat: a second erasure reports nothing left.",
    )
    p.add_argument("home")
    p.add_argument("--reason", required=True, help="why (e.g. the tenant's request and its date)")

    p = sub.add_parser(
        "expire",
        help="retention: downsample and expire old data, purge withdrawn streams",
        description="Raw readings older than rights.environment_raw_days and raw events "
        "older than rights.events_raw_days become hourly aggregates (reading_hourly, "
        "event_hourly) and are deleted; aggregates, mould points and closed cases past their "
        "periods are deleted; withdrawn streams are purged. Once, or every SECONDS "
        "(`hof demo` runs it so; its last run shows in `hof status`).",
    )
    p.add_argument("--every", type=float, metavar="SECONDS", help="repeat until Ctrl-C")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from hof.alertstore import make_engine, migrate, store_url
    from hof.rights.records import Actor

    url = store_url(settings)
    migrate(url)
    engine = make_engine(url)
    actor = Actor(args.by, role="admin", via="cli")
    try:
        command = args.rights_command
        if command == "consent":
            return _consent(args, settings, engine, actor)
        if command == "consents":
            return _consents(args, engine)
        if command == "sync":
            from hof.registry.consent import publish_current

            print(f"published the consents of {publish_current(settings.mqtt, engine)} homes")
            return 0
        if command == "export":
            from hof.rights.operations import export_home

            bundle = asyncio.run(export_home(settings, engine, args.home, actor))
            out = args.output or Path(f"{args.home}-subject-access.zip")
            out.write_bytes(bundle)
            out.chmod(0o600)
            print(f"wrote {out} ({len(bundle)} bytes)")
            return 0
        if command == "erase":
            from hof.rights.operations import erase_home

            report = asyncio.run(erase_home(settings, engine, args.home, actor, args.reason))
            print(json.dumps(report.as_dict(), indent=2))
            if report.nothing_left:
                print(f"nothing was held about {args.home}", file=sys.stderr)
            return 0
        if command == "expire":
            from hof.rights.expiry import run_expiry

            return run_expiry(settings, engine, every=args.every)
    finally:
        engine.dispose()
    return 2


def _consent(args: argparse.Namespace, settings: Settings, engine: Engine, actor: Actor) -> int:
    from hof.consent import Stream
    from hof.registry.consent import Basis, ConsentIn, publish_current, record_consents
    from hof.rights.records import audit

    decision = ConsentIn(
        home=args.home,
        stream=Stream(args.stream),
        granted=bool(args.grant),
        basis=Basis(args.basis),
        note=args.note,
    )
    changed = record_consents(engine, [decision], recorded_by=actor.email)
    audit(
        engine,
        actor,
        "consent",
        args.home,
        {"stream": args.stream, "granted": decision.granted, "basis": args.basis},
    )
    publish_current(settings.mqtt, engine, changed)
    state = "granted" if decision.granted else "withdrawn"
    print(f"{args.home}: {args.stream} {state}" + ("" if changed else " (as it was)"))
    return 0


def _consents(args: argparse.Namespace, engine: Engine) -> int:
    from hof.registry.consent import consent_history

    rows = consent_history(engine, args.home)
    if not rows:
        print(f"{args.home}: no consent recorded (the unrecorded default applies)")
    for row in rows:
        state = "granted" if row.granted else "withdrawn"
        print(
            f"{row.recorded_at:%Y-%m-%d %H:%M} {row.stream:<12} {state:<9} {row.basis:<20} "
            f"by {row.recorded_by}" + (f" ({row.note})" if row.note else "")
        )
    return 0
