"""Housing officers' digests against a real SMTP server (aiosmtpd, STARTTLS) and a real SQLite
store: the patch's new environmental alerts, once per period, held during quiet hours,
never a telecare alert; a digest nobody could be sent is tried again."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notify_support import *  # noqa: F403  (pytest fixtures, by name)
from notify_support import Mailbox
from pydantic import ValidationError

from hof.alertstore import AlertStore, Category, make_engine, migrate
from hof.registry import upsert_homes
from hof.registry.homes import HomeIn
from hof.stack.ports import free_port
from notify.channels.email import EmailChannel
from notify.digest import Digests, in_quiet_hours
from notify.policy import Digest, NotifyConfig, Person, QuietHours

NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)  # GMT in winter: London time too


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    upsert_homes(
        engine,
        [
            HomeIn(id="N-1", reference="N-1", address="1 Oak Road", patch="North"),
            HomeIn(id="N-2", reference="N-2", address="2 Oak Road", patch="North", telecare=True),
            HomeIn(id="S-1", reference="S-1", address="1 Mill Lane", patch="South"),
        ],
    )
    opened = AlertStore(engine)
    yield opened
    opened.close()
    engine.dispose()


def _raise(store: AlertStore, home: str, category: str, summary: str, **kw: Any) -> int:
    audience = "responder" if category == "fall" else "housing_officer"
    return store.raise_or_update(
        home=home,
        rule=kw.pop("rule", category),
        rule_version=1,
        category=category,
        audience=audience,
        severity="significant",
        summary=summary,
        at=kw.pop("at", NOON),
        **kw,
    ).alert.id


def _config() -> NotifyConfig:
    return NotifyConfig(
        people={
            "ann": Person(name="Ann Officer", email="ann@example.org"),
            "bo": Person(name="Bo Officer", email="bo@example.org"),
        },
        digests=(
            Digest(
                name="north",
                patches=("North",),
                to=("ann", "bo"),
                every_s=3600,
                quiet_hours=QuietHours(start=dt.time(20), end=dt.time(8)),
            ),
        ),
    )


def _bodies(mailbox: Mailbox, to: str) -> list[str]:
    out = []
    for mail in mailbox.mails():
        if mail["To"] == to:
            body = mail.get_body(preferencelist=("plain",))
            assert body is not None
            out.append(f"{mail['Subject']}\n{body.get_content()}")
    return out


async def test_a_patch_digest_once_a_period_held_in_quiet_hours_never_telecare(
    store: AlertStore, mailbox: Mailbox
) -> None:
    clock = Clock()
    channel = EmailChannel(
        mailbox.host, mailbox.port, sender="hof@example.org", ca_file=mailbox.cert, timeout_s=5
    )
    digests = Digests(_config(), channel, store.engine, clock=clock, backoff_s=0.05)
    _raise(store, "N-1", "cold", "Old news: cold before the digest began.")
    assert await digests.run_once() == 0, "a new digest starts from now"

    _raise(store, "N-1", "damp_mould", "Bedroom damp for 9 of the last 24 hours.", room="bedroom")
    _raise(store, "N-1", "device_offline", "env-1 has sent nothing for 40 minutes.", room="hall")
    _raise(store, "N-2", "device_offline", "The pendant has sent nothing.", rule="offline_tc")
    _raise(store, "N-2", "fall", "Fall detected by pendant-1.")
    _raise(store, "S-1", "cold", "Another patch's cold home.")
    assert await digests.run_once() == 1
    (ann,) = _bodies(mailbox, "ann@example.org")
    assert len(_bodies(mailbox, "bo@example.org")) == 1
    assert ann.startswith("Digest (north): 2 new alerts for North")
    assert "Damp mould (significant) at 1 Oak Road (N-1), bedroom, raised 12:00 on 30 Nov" in ann
    assert "env-1 has sent nothing" in ann
    for absent in ("Old news", "pendant", "Fall", "Another patch"):
        assert absent not in ann, f"{absent!r} is not for this digest"

    # Something new within the hour waits for the next period.
    _raise(store, "N-1", "heat", "Living room above 26 °C for 5 hours.")
    assert await digests.run_once() == 0
    clock.now = NOON + dt.timedelta(hours=1)
    assert await digests.run_once() == 1
    assert "Living room above 26" in _bodies(mailbox, "ann@example.org")[-1]
    assert await digests.run_once() == 0, "nothing new, nothing sent"

    # Quiet hours (20:00-08:00 London) hold it until the morning.
    _raise(store, "N-1", "cold", "Kitchen below 16 °C for 7 of the last 24 hours.", room="kitchen")
    clock.now = NOON + dt.timedelta(hours=11)  # 23:00
    assert await digests.run_once() == 0
    clock.now = NOON + dt.timedelta(hours=19, minutes=59)  # 07:59 the next day
    assert await digests.run_once() == 0
    clock.now = NOON + dt.timedelta(hours=20, minutes=1)  # 08:01
    assert await digests.run_once() == 1
    assert "Kitchen below 16" in _bodies(mailbox, "ann@example.org")[-1]
    assert len(_bodies(mailbox, "ann@example.org")) == 3


async def test_a_digest_nobody_could_be_sent_goes_at_the_next_round(
    store: AlertStore, mailbox: Mailbox
) -> None:
    clock = Clock()
    closed = EmailChannel("127.0.0.1", free_port(), sender="hof@example.org", timeout_s=2)
    digests = Digests(_config(), closed, store.engine, clock=clock, attempts=2, backoff_s=0.05)
    assert await digests.run_once() == 0
    _raise(store, "N-1", "damp_mould", "Bathroom damp.")
    assert await digests.run_once() == 0, "the relay refused: handed back"
    digests.channel = EmailChannel(
        mailbox.host, mailbox.port, sender="hof@example.org", ca_file=mailbox.cert, timeout_s=5
    )
    assert await digests.run_once() == 1, "not held for a period: it was never sent"
    assert "Bathroom damp" in _bodies(mailbox, "ann@example.org")[0]


def test_digests_are_for_officers_only_and_name_known_people() -> None:
    with pytest.raises(ValidationError, match="never carries telecare"):
        Digest(name="bad", to=("ann",), kinds=(Category.COLD, Category.FALL))
    with pytest.raises(ValidationError, match="unknown people"):
        NotifyConfig(digests=(Digest(name="d", to=("nobody",)),))
    quiet = QuietHours(start=dt.time(20), end=dt.time(8))
    assert in_quiet_hours(quiet, dt.datetime(2026, 7, 1, 19, 30, tzinfo=dt.UTC))  # 20:30 BST
    assert not in_quiet_hours(quiet, dt.datetime(2026, 7, 1, 7, 30, tzinfo=dt.UTC))  # 08:30 BST
    assert in_quiet_hours(quiet, dt.datetime(2026, 12, 1, 7, 59, tzinfo=dt.UTC))


def test_a_digest_runs_until_stopped(store: AlertStore, mailbox: Mailbox) -> None:
    channel = EmailChannel(
        mailbox.host, mailbox.port, sender="hof@example.org", ca_file=mailbox.cert, timeout_s=5
    )
    digests = Digests(_config(), channel, store.engine, poll_s=0.05, clock=Clock())

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(digests.run(stop))
        await asyncio.sleep(0.2)
        _raise(store, "N-1", "cold", "Cold while running.")
        for _ in range(100):
            if _bodies(mailbox, "ann@example.org"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(run())
    assert "Cold while running" in _bodies(mailbox, "ann@example.org")[0]
