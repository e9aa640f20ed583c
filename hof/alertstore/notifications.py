"""The notifier's part of the alert store: escalation jobs, delivery attempts, ack tokens.

The notifier (`notify/`) keeps every timer as a row (`notify_job`) so that a restart resumes
each pending level at its due time, and several notifiers can run: a job is taken with a
conditional UPDATE (pending, or claimed under a lease that has run out) and only the notifier
whose UPDATE changed the row sends it. A level is never created twice (a unique constraint on
(alert, purpose, level, repeat)). The dashboard shows what was actually attempted
(`attempts_for`); the acknowledgement link and the SMS reply redeem a token here, in the same
transaction as the acknowledgement itself.

Functions take a `Session` inside the caller's transaction, except `transaction`, which opens
one (a write transaction begins with BEGIN IMMEDIATE on SQLite, so writers queue).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hof.alertstore.engine import WRITE
from hof.alertstore.history import record
from hof.alertstore.models import (
    Alert,
    AttemptStatus,
    JobPurpose,
    JobState,
    NotifyAck,
    NotifyAttempt,
    NotifyCursor,
    NotifyJob,
)
from hof.alertstore.vocabulary import Action, State

__all__ = [
    "AckResult",
    "AttemptView",
    "ClaimedJob",
    "Step",
    "acknowledge_by_code",
    "acknowledge_by_token",
    "attempts_for",
    "cancel_pending",
    "claim_due",
    "finish",
    "issue_ack",
    "next_due",
    "next_takeable",
    "peek_token",
    "read_cursor",
    "record_attempt",
    "record_receipt",
    "renew",
    "schedule",
    "sent_keys",
    "set_cursor",
    "token_hash",
    "transaction",
    "write_cursor",
]

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: read aloud and typed on a phone


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """One transaction on `engine`; committed when the block ends without an error."""
    with engine.connect() as connection:
        if write:
            connection = connection.execution_options(**{WRITE: True})
        with Session(bind=connection, expire_on_commit=False) as session, session.begin():
            yield session


# -- escalation jobs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """A job to create: what, which level and repeat, when."""

    purpose: JobPurpose
    level: int
    repeat: int
    due_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this notifier holds until `lease_until`."""

    id: int
    alert_id: int
    purpose: JobPurpose
    level: int
    repeat: int
    due_at: dt.datetime
    lease_until: dt.datetime


def schedule(session: Session, alert_id: int, steps: Iterable[Step], now: dt.datetime) -> int:
    """Create the jobs not yet created (a step that exists, in any state, is left alone).

    Returns how many were new. Safe for several notifiers discovering the same alert at once.
    """
    rows = [
        {
            "alert_id": alert_id,
            "purpose": s.purpose.value,
            "level": s.level,
            "repeat": s.repeat,
            "due_at": s.due_at,
            "state": JobState.PENDING.value,
            "created_at": now,
        }
        for s in steps
    ]
    if not rows:
        return 0
    bind = session.get_bind()
    insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    # One statement for all of them; RETURNING says which were new (rowcount is not portable
    # for ON CONFLICT DO NOTHING).
    statement = (
        insert(NotifyJob)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["alert_id", "purpose", "level", "repeat"])
        .returning(NotifyJob.id)
    )
    return len(session.connection().execute(statement).all())


def claim_due(
    session: Session, owner: str, now: dt.datetime, lease: dt.timedelta, limit: int = 50
) -> list[ClaimedJob]:
    """Take up to `limit` jobs that are due: pending, or claimed by a notifier whose lease ran
    out (it died mid-send). Each is taken with a conditional UPDATE, so of several notifiers
    racing for one job exactly one gets it."""
    takeable = sa.or_(
        NotifyJob.state == JobState.PENDING,
        sa.and_(NotifyJob.state == JobState.CLAIMED, NotifyJob.lease_until < now),
    )
    query = (
        sa.select(NotifyJob.id)
        .where(takeable, NotifyJob.due_at <= now)
        .order_by(NotifyJob.due_at, NotifyJob.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = list(session.scalars(query))
    if not candidates:
        return []
    until = now + lease
    # One UPDATE ... RETURNING: a row another notifier took between our SELECT and this
    # UPDATE no longer matches `takeable` and is not returned.
    taken = session.connection().execute(
        sa.update(NotifyJob)
        .where(NotifyJob.id.in_(candidates), takeable)
        .values(state=JobState.CLAIMED.value, owner=owner, lease_until=until)
        .returning(
            NotifyJob.id,
            NotifyJob.alert_id,
            NotifyJob.purpose,
            NotifyJob.level,
            NotifyJob.repeat,
            NotifyJob.due_at,
        )
    )
    claimed = [
        ClaimedJob(
            row.id, row.alert_id, JobPurpose(row.purpose), row.level, row.repeat, row.due_at, until
        )
        for row in taken
    ]
    claimed.sort(key=lambda job: (job.due_at, job.id))
    return claimed


def renew(session: Session, job_ids: Collection[int], owner: str, until: dt.datetime) -> int:
    """Extend the lease of jobs this notifier still holds; how many it still held."""
    if not job_ids:
        return 0
    result = session.execute(
        sa.update(NotifyJob)
        .where(
            NotifyJob.id.in_(list(job_ids)),
            NotifyJob.owner == owner,
            NotifyJob.state == JobState.CLAIMED,
        )
        .values(lease_until=until)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def finish(
    session: Session,
    job_id: int,
    owner: str,
    now: dt.datetime,
    *,
    state: JobState = JobState.DONE,
    note: str | None = None,
) -> bool:
    """Mark a claimed job done (or cancelled); False when this notifier no longer held it."""
    result = session.execute(
        sa.update(NotifyJob)
        .where(
            NotifyJob.id == job_id,
            NotifyJob.owner == owner,
            NotifyJob.state == JobState.CLAIMED,
        )
        .values(state=state, finished_at=now, lease_until=None, note=note)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_pending(
    session: Session,
    alert_id: int,
    now: dt.datetime,
    *,
    purposes: Collection[JobPurpose] = (JobPurpose.ESCALATE,),
    note: str,
) -> int:
    """Cancel every job of the alert not yet finished (pending, or claimed and mid-send: the
    sender sees the cancel when it finishes and sends nothing more). How many were cancelled."""
    result = session.execute(
        sa.update(NotifyJob)
        .where(
            NotifyJob.alert_id == alert_id,
            NotifyJob.purpose.in_(list(purposes)),
            NotifyJob.state.in_([JobState.PENDING, JobState.CLAIMED]),
        )
        .values(state=JobState.CANCELLED, finished_at=now, lease_until=None, note=note)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def next_due(session: Session) -> dt.datetime | None:
    """When the earliest pending job comes due (to sleep until then)."""
    return session.scalar(
        sa.select(sa.func.min(NotifyJob.due_at)).where(NotifyJob.state == JobState.PENDING)
    )


def next_takeable(session: Session) -> dt.datetime | None:
    """When `claim_due` will next find something: the earliest pending job's due time, or the
    earliest lease to run out. A read, so that a notifier with nothing due writes nothing."""
    pending = next_due(session)
    lapsing = session.scalar(
        sa.select(sa.func.min(NotifyJob.lease_until)).where(NotifyJob.state == JobState.CLAIMED)
    )
    times = [t for t in (pending, lapsing) if t is not None]
    return min(times) if times else None


# -- delivery attempts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One delivery attempt as screens show it."""

    id: int
    alert_id: int
    level: int
    repeat: int
    channel: str
    recipient_name: str
    recipient_address: str
    attempt: int
    status: AttemptStatus
    detail: str
    provider_ref: str | None
    at: dt.datetime
    delivered_at: dt.datetime | None

    @classmethod
    def of(cls, row: NotifyAttempt) -> AttemptView:
        return cls(
            row.id,
            row.alert_id,
            row.level,
            row.repeat,
            row.channel,
            row.recipient_name,
            row.recipient_address,
            row.attempt,
            row.status,
            row.detail,
            row.provider_ref,
            row.at,
            row.delivered_at,
        )


def record_attempt(
    session: Session,
    *,
    alert_id: int,
    job_id: int | None,
    level: int,
    repeat: int,
    channel: str,
    recipient_name: str,
    recipient_address: str,
    attempt: int,
    status: AttemptStatus | str,
    detail: str,
    provider_ref: str | None,
    idempotency_key: str,
    at: dt.datetime,
) -> int:
    """Append one attempt; its id. A channel that reports delivery at once (SCAIP's 200 from
    the receiving centre) is delivered at `at`."""
    row = NotifyAttempt(
        alert_id=alert_id,
        job_id=job_id,
        level=level,
        repeat=repeat,
        channel=channel[:32],
        recipient_name=recipient_name[:200],
        recipient_address=recipient_address[:500],
        attempt=attempt,
        status=AttemptStatus(status),
        detail=detail[:1000],
        provider_ref=provider_ref[:200] if provider_ref else None,
        idempotency_key=idempotency_key[:200],
        at=at,
        delivered_at=at if AttemptStatus(status) is AttemptStatus.DELIVERED else None,
    )
    session.add(row)
    session.flush()
    return row.id


def sent_keys(session: Session, job_id: int) -> set[str]:
    """Idempotency keys of the job's recipients already reached (sent or delivered): a job
    taken over after a crash sends only to the others."""
    return set(
        session.scalars(
            sa.select(NotifyAttempt.idempotency_key).where(
                NotifyAttempt.job_id == job_id, NotifyAttempt.status != AttemptStatus.FAILED
            )
        )
    )


def record_receipt(
    session: Session,
    provider_ref: str,
    status: AttemptStatus | str,
    at: dt.datetime,
    detail: str | None = None,
) -> int:
    """A delivery receipt (e.g. GOV.UK Notify's callback) for the attempt with `provider_ref`:
    `delivered` sets `delivered_at`; `failed` marks it failed. How many attempts matched."""
    values: dict[str, object] = {"status": AttemptStatus(status)}
    if AttemptStatus(status) is AttemptStatus.DELIVERED:
        values["delivered_at"] = at
    if detail is not None:
        values["detail"] = detail[:1000]
    result = session.execute(
        sa.update(NotifyAttempt).where(NotifyAttempt.provider_ref == provider_ref).values(**values)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def attempts_for(session: Session, alert_ids: Collection[int]) -> dict[int, list[AttemptView]]:
    """The attempts made for each alert, oldest first (alerts with none are absent)."""
    out: dict[int, list[AttemptView]] = {}
    if not alert_ids:
        return out
    rows = session.scalars(
        sa.select(NotifyAttempt)
        .where(NotifyAttempt.alert_id.in_(list(alert_ids)))
        .order_by(NotifyAttempt.alert_id, NotifyAttempt.id)
    )
    for row in rows:
        out.setdefault(row.alert_id, []).append(AttemptView.of(row))
    return out


# -- acknowledgement tokens and codes ----------------------------------------------------------


def token_hash(token: str) -> str:
    """What the store keeps of a link token: its SHA-256, so a database leak acks nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def _sign(secret: bytes, body: str) -> str:
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _signed_ok(secret: bytes, token: str) -> bool:
    body, _, mac = token.rpartition(".")
    return bool(body) and hmac.compare_digest(_sign(secret, body), mac)


def issue_ack(
    session: Session,
    alert_id: int,
    recipient_name: str,
    recipient_address: str,
    *,
    secret: bytes,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> tuple[str, str]:
    """A signed single-use link token and a short SMS reply code for (alert, recipient).

    Each call issues a fresh token (only its hash is kept; a new one replaces the old), and
    keeps the recipient's code when it has one, so a repeat of a level says the same code.
    """
    raw = secrets.token_urlsafe(18)
    body = f"{alert_id}.{raw}"
    token = f"{body}.{_sign(secret, body)}"
    existing = session.scalars(
        sa.select(NotifyAck).where(
            NotifyAck.alert_id == alert_id, NotifyAck.recipient_address == recipient_address
        )
    ).one_or_none()
    if existing is not None:
        existing.token_hash = token_hash(token)
        existing.expires_at = now + ttl
        existing.used_at = None
        existing.used_via = None
        return token, existing.code
    taken = set(
        session.scalars(
            sa.select(NotifyAck.code).where(
                NotifyAck.recipient_address == recipient_address,
                NotifyAck.used_at.is_(None),
                NotifyAck.expires_at > now,
            )
        )
    )
    code = _new_code(taken)
    session.add(
        NotifyAck(
            alert_id=alert_id,
            recipient_name=recipient_name[:200],
            recipient_address=recipient_address[:500],
            token_hash=token_hash(token),
            code=code,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token, code


def _new_code(taken: set[str]) -> str:
    """A digit and a letter ("1A"), unique among the recipient's live codes; longer if full."""
    for length in (1, 2, 3):
        for _ in range(50):
            digits = "".join(secrets.choice("123456789") for _ in range(length))
            code = digits + secrets.choice(CODE_ALPHABET)
            if code not in taken:
                return code
    raise RuntimeError("no free acknowledgement code")  # ~24,000 live codes for one person


@dataclass(frozen=True, slots=True)
class AckResult:
    """What redeeming a token or code did."""

    ok: bool
    reason: str  # "acknowledged", "already acknowledged", "resolved", "expired", "used", "unknown"
    alert_id: int | None = None
    recipient_name: str | None = None
    state: State | None = None


def _find_token(session: Session, token: str, secret: bytes) -> NotifyAck | None:
    if not _signed_ok(secret, token):
        return None  # forged or mangled: refused without a database lookup by its value
    return session.scalars(
        sa.select(NotifyAck).where(NotifyAck.token_hash == token_hash(token)).with_for_update()
    ).one_or_none()


def peek_token(session: Session, token: str, secret: bytes, now: dt.datetime) -> AckResult:
    """What the token would do, without using it (the link's confirm page)."""
    ack = _find_token(session, token, secret)
    if ack is None:
        return AckResult(False, "unknown")
    alert = session.get(Alert, ack.alert_id)
    state = alert.state if alert is not None else None
    if ack.used_at is not None:
        return AckResult(False, "used", ack.alert_id, ack.recipient_name, state)
    if ack.expires_at <= now:
        return AckResult(False, "expired", ack.alert_id, ack.recipient_name, state)
    return AckResult(True, "valid", ack.alert_id, ack.recipient_name, state)


def acknowledge_by_token(
    session: Session, token: str, secret: bytes, now: dt.datetime, *, via: str = "link"
) -> AckResult:
    """Redeem a link token: acknowledge its alert as its recipient, once, before it expires."""
    ack = _find_token(session, token, secret)
    if ack is None:
        return AckResult(False, "unknown")
    return _redeem(session, ack, now, via)


def acknowledge_by_code(
    session: Session, address: str, code: str, now: dt.datetime, *, via: str = "sms"
) -> AckResult:
    """Redeem an SMS reply code sent to `address` (e.g. "1A", any case, spaces ignored)."""
    wanted = "".join(code.split()).upper()
    ack = session.scalars(
        sa.select(NotifyAck)
        .where(
            NotifyAck.recipient_address == address,
            NotifyAck.code == wanted,
            NotifyAck.used_at.is_(None),
        )
        .order_by(NotifyAck.id.desc())
        .limit(1)
        .with_for_update()
    ).one_or_none()
    if ack is None:
        return AckResult(False, "unknown")
    return _redeem(session, ack, now, via)


def _redeem(session: Session, ack: NotifyAck, now: dt.datetime, via: str) -> AckResult:
    alert = session.get(Alert, ack.alert_id, with_for_update=True)
    assert alert is not None  # the foreign key cascades
    name = ack.recipient_name
    if ack.used_at is not None:
        return AckResult(False, "used", alert.id, name, alert.state)
    if ack.expires_at <= now:
        return AckResult(False, "expired", alert.id, name, alert.state)
    ack.used_at = now
    ack.used_via = via
    if alert.state is State.RESOLVED:
        # A resolve that raced the acknowledgement wins: the case stays resolved.
        return AckResult(False, "resolved", alert.id, name, alert.state)
    if alert.state is not State.OPEN:
        record(session, alert, Action.NOTE, name, now, text=f"Also acknowledged via {via}.")
        return AckResult(False, "already acknowledged", alert.id, name, alert.state)
    alert.state = State.ACKNOWLEDGED
    alert.acknowledged_by = name
    alert.acknowledged_at = now
    record(session, alert, Action.ACKNOWLEDGED, name, now, via=via)
    cancel_pending(session, alert.id, now, note=f"acknowledged by {name} via {via}")
    return AckResult(True, "acknowledged", alert.id, name, alert.state)


# -- the notifier's place in the history -------------------------------------------------------


def read_cursor(session: Session, name: str) -> int | None:
    return session.scalar(sa.select(NotifyCursor.history_id).where(NotifyCursor.name == name))


def write_cursor(session: Session, name: str, history_id: int) -> None:
    """Move the cursor forward (never back: another notifier may be further on)."""
    row = session.get(NotifyCursor, name, with_for_update=True)
    if row is None:
        session.add(NotifyCursor(name=name, history_id=history_id))
    elif history_id > row.history_id:
        row.history_id = history_id


def set_cursor(session: Session, name: str, value: int | None) -> None:
    """Set a cursor, back as well as forward (a digest that could not be sent is handed back);
    None removes it."""
    row = session.get(NotifyCursor, name, with_for_update=True)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(NotifyCursor(name=name, history_id=value))
    else:
        row.history_id = value
