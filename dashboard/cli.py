"""Run the dashboard (web pages and the JSON API), and manage its accounts, API tokens and homes.

`hof dashboard` serves on dashboard.host:dashboard.port (HOF_DASHBOARD__PORT); the other actions
change the platform database directly and are for an administrator at the server.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from dashboard.access import Role
from hof.alertstore import make_engine, migrate, store_url
from hof.errors import HofError
from hof.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dashboard_command", metavar="ACTION")
    sub.add_parser("serve", help="serve the pages and the API (the default)")

    user = sub.add_parser("user", help="add, list, disable or enable accounts; set a password")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="add an account (the password is asked for)")
    add.add_argument("email")
    add.add_argument("--name", default="", help="the person's name as pages show it")
    add.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help="what they may do and see"
    )
    add.add_argument(
        "--patch",
        action="append",
        default=[],
        help="a patch of homes they work (repeat for more; '*' for all)",
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user_sub.add_parser("list", help="list the accounts")
    for action in ("disable", "enable", "password"):
        p = user_sub.add_parser(action, help=f"{action} an account")
        p.add_argument("email")
        if action == "password":
            p.add_argument("--password-stdin", action="store_true")

    token = sub.add_parser("token", help="create or revoke API tokens for landlords' systems")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="make a token acting as an account; shown once")
    create.add_argument("email")
    create.add_argument("--name", required=True, help="what the token is for")
    revoke = token_sub.add_parser("revoke", help="revoke a token by the prefix lists show")
    revoke.add_argument("prefix")

    homes = sub.add_parser("homes", help="import homes (reference, address, estate...) from CSV")
    homes_sub = homes.add_subparsers(dest="homes_command", required=True, metavar="ACTION")
    imp = homes_sub.add_parser("import", help="insert or update homes from a CSV with a header row")
    imp.add_argument(
        "csv",
        type=Path,
        help="columns: id, reference, address, postcode, estate, ward, patch, telecare; "
        "optionally consent_environment, consent_activity, consent_telecare (yes/no; blank "
        "leaves it) and consent_basis (docs/data-protection.md)",
    )
    imp.add_argument(
        "--by",
        default="csv-import",
        help="who recorded the consents in the file, for the registry and the audit log",
    )


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise HofError("the two passwords differ")
    return first


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard import accounts

    command = args.dashboard_command or "serve"
    if command == "serve":
        from dashboard.serve import serve

        return serve(settings)
    url = store_url(settings)
    migrate(url)
    engine = make_engine(url)
    try:
        if command == "user":
            if args.user_command == "add":
                user = accounts.create_user(
                    engine,
                    email=args.email,
                    name=args.name,
                    role=Role(args.role),
                    password=_password(args.password_stdin),
                    patches=tuple(args.patch),
                )
                patches = ", ".join(user.patches) or "none"
                print(f"added {user.email} ({user.role.value}; patches: {patches})")
            elif args.user_command == "list":
                for u in accounts.list_users(engine):
                    state = "active" if u.active else "disabled"
                    print(f"{u.email}\t{u.role.value}\t{','.join(u.patches)}\t{state}")
            elif args.user_command == "password":
                accounts.set_password(engine, args.email, _password(args.password_stdin))
                print(f"password changed for {args.email}; their sessions are ended")
            else:
                user = accounts.set_active(engine, args.email, args.user_command == "enable")
                print(f"{user.email} is {'active' if user.active else 'disabled'}")
        elif command == "token":
            if args.token_command == "create":
                token = accounts.create_token(engine, args.email, args.name)
                print(token)
                print("keep it secret: it is shown only this once", file=sys.stderr)
            else:
                n = accounts.revoke_token(engine, args.prefix)
                if n == 0:
                    raise HofError(f"no live token starts with {args.prefix}")
                print(f"revoked {n} token(s)")
        elif command == "homes":
            from hof.registry import import_homes
            from hof.registry.consent import publish_current, read_consent_csv, record_consents

            decisions = list(read_consent_csv(args.csv))  # a bad cell stops it before any write
            print(f"imported {import_homes(engine, args.csv)} homes")
            changed = record_consents(engine, decisions, recorded_by=args.by)
            if decisions:
                # The services obey it within seconds; recorded either way (`hof rights sync`).
                publish_current(settings.mqtt, engine, changed)
                print(f"recorded consent changes for {len(changed)} homes")
    finally:
        engine.dispose()
    return 0
