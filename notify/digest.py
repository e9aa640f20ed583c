"""Housing officers' digests: a patch's new environmental alerts by email, once a day (or as
configured), held while the digest's quiet hours last; never a telecare alert.

A digest (`[[digests]]` in the policy file, `notify.policy.Digest`) covers the alerts of its
kinds and patches raised since the last one it sent, for the housing officers' audience; a
device offline in a home with telecare is the responders' (the escalation engine's) and is
left out. Where it has got to is two cursors in the alert store (the newest alert covered, and
when it last went), moved in one write transaction before sending, so that of several
notifiers one sends each digest; a digest nobody could be sent is handed back (the cursors
restored) and tried at the next round. Nothing new: nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hof.alertstore import Audience, Category
from hof.alertstore import notifications as n
from hof.alertstore.models import Alert
from hof.registry.models import Home
from hof.waiting import within
from notify.channels.base import Channel, DeliveryStatus, Message, Recipient
from notify.policy import Digest, NotifyConfig, QuietHours

__all__ = ["DigestLine", "Digests", "in_quiet_hours"]

log = structlog.get_logger(__name__)

LONDON = ZoneInfo("Europe/London")
POLL_S = 30.0
MOST_LINES = 500  # a digest lists at most this many alerts; the rest go in the next one


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def in_quiet_hours(quiet: QuietHours | None, at: dt.datetime) -> bool:
    """Whether `at` falls in the quiet hours (local time; a span may cross midnight)."""
    if quiet is None or quiet.start == quiet.end:
        return False
    local = at.astimezone(ZoneInfo(quiet.timezone)).time()
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


@dataclass(frozen=True, slots=True)
class DigestLine:
    """One alert in a digest."""

    id: int
    home: str
    address: str | None
    room: str | None
    category: Category
    severity: str
    summary: str
    raised_at: dt.datetime

    def words(self) -> str:
        kind = self.category.value.replace("_", " ").capitalize()
        where = f"{self.address} ({self.home})" if self.address else self.home
        room = f", {self.room.replace('_', ' ')}" if self.room else ""
        when = self.raised_at.astimezone(LONDON).strftime("%H:%M on %d %b")
        return f"- {kind} ({self.severity}) at {where}{room}, raised {when}: {self.summary}"


def new_alerts(session: Session, digest: Digest, after: int) -> list[DigestLine]:
    """The digest's alerts raised after alert id `after`, oldest first."""
    query = (
        sa.select(Alert, Home.address, Home.telecare)
        .outerjoin(Home, Home.id == Alert.home)
        .where(
            Alert.id > after,
            Alert.category.in_(list(digest.kinds)),
            Alert.audience.in_([Audience.HOUSING_OFFICER, Audience.BOTH]),
        )
        .order_by(Alert.id)
        .limit(MOST_LINES)
    )
    if "*" not in digest.patches:
        query = query.where(Home.patch.in_(list(digest.patches)))
    out = []
    for alert, address, telecare in session.execute(query):
        if alert.category is Category.DEVICE_OFFLINE and telecare:
            continue  # a telecare home's device: the responders are called out for it
        out.append(
            DigestLine(
                alert.id,
                alert.home,
                address,
                alert.room,
                alert.category,
                alert.severity.value,
                str(alert.evidence.get("summary", "")),
                alert.first_raised_at,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Claim:
    digest: Digest
    lines: list[DigestLine]
    covered: int  # the alert cursor before the claim
    last_sent: int | None  # the sent cursor before the claim (epoch seconds)
    upto: int  # the newest alert id the digest covers (past skipped ones too)
    at: dt.datetime


class Digests:
    """The digests of one notifier process; `run(stop)` until `stop` is set."""

    def __init__(
        self,
        config: NotifyConfig,
        channel: Channel,
        engine: Engine,
        *,
        poll_s: float = POLL_S,
        attempts: int = 3,
        backoff_s: float = 2.0,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.config = config
        self.channel = channel
        self.engine = engine
        self.poll_s = poll_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("notify_digest_round_failed")  # the store is away: next round
            with contextlib.suppress(TimeoutError):
                await within(stop.wait(), self.poll_s)

    async def run_once(self) -> int:
        """Send every digest that is due and has something new; how many went."""
        sent = 0
        for digest in self.config.digests:
            claim = await asyncio.to_thread(self._claim, digest)
            if claim is None:
                continue
            if await self._send(claim):
                sent += 1
            else:
                await asyncio.to_thread(self._hand_back, claim)
        return sent

    def _claim(self, digest: Digest) -> _Claim | None:
        now = self.clock()
        if in_quiet_hours(digest.quiet_hours, now):
            return None
        alert_cursor, sent_cursor = f"digest:{digest.name}", f"digest:{digest.name}:sent"
        with n.transaction(self.engine) as s:
            last_sent = n.read_cursor(s, sent_cursor)
            if last_sent is not None and now.timestamp() - last_sent < digest.every_s:
                return None
            covered = n.read_cursor(s, alert_cursor)
            if covered is None:
                # A new digest starts from now: it is for what is new, not the whole history.
                newest = s.scalar(sa.select(sa.func.max(Alert.id))) or 0
                n.set_cursor(s, alert_cursor, newest)
                return None
            lines = new_alerts(s, digest, covered)
            if not lines:
                return None
            upto = lines[-1].id
            n.set_cursor(s, alert_cursor, upto)
            n.set_cursor(s, sent_cursor, int(now.timestamp()))
        return _Claim(digest, lines, covered, last_sent, upto, now)

    def _hand_back(self, claim: _Claim) -> None:
        name = claim.digest.name
        with n.transaction(self.engine) as s:
            if n.read_cursor(s, f"digest:{name}") == claim.upto:
                n.set_cursor(s, f"digest:{name}", claim.covered)
                n.set_cursor(s, f"digest:{name}:sent", claim.last_sent)
        log.warning("notify_digest_handed_back", digest=name, alerts=len(claim.lines))

    def _message(self, claim: _Claim, recipient: Recipient) -> Message:
        digest, lines = claim.digest, claim.lines
        patches = "every patch" if "*" in digest.patches else ", ".join(digest.patches)
        count = f"{len(lines)} new alert{'s' if len(lines) != 1 else ''}"
        text = "\n".join(
            [
                f"{count} for {patches} since the last digest:",
                "",
                *(line.words() for line in lines),
                "",
                "Each is on the dashboard's list of alerts.",
            ]
        )
        who = hashlib.sha256(recipient.address.encode()).hexdigest()[:16]
        return Message(
            alert_id=lines[-1].id,
            home=lines[-1].home if len(lines) == 1 else "",
            kind="digest",
            level=0,
            subject=f"Digest ({digest.name}): {count} for {patches}",
            text=text,
            recipient=recipient,
            idempotency_key=f"hof-digest-{digest.name}-{claim.upto}-{who}",
            raised_at=claim.at,
        )

    async def _send(self, claim: _Claim) -> bool:
        """Mail each officer; True when at least one of them was reached."""
        people = [self.config.people[name] for name in claim.digest.to]
        reached = 0
        for person in people:
            if not person.email:
                log.warning("notify_digest_no_email", digest=claim.digest.name, person=person.name)
                continue
            message = self._message(claim, Recipient(person.name, person.email))
            for attempt in range(1, self.attempts + 1):
                outcome = await self.channel.send(message)
                if outcome.status is not DeliveryStatus.FAILED:
                    reached += 1
                    break
                log.warning(
                    "notify_digest_failed",
                    digest=claim.digest.name,
                    to=person.name,
                    attempt=attempt,
                    detail=outcome.detail,
                )
                if not outcome.retryable:
                    break
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.info(
            "notify_digest_sent",
            digest=claim.digest.name,
            alerts=len(claim.lines),
            reached=reached,
            of=len(people),
        )
        return reached > 0
