"""The notifier's tables on both backends: jobs created once and claimed once, leases, attempts,
acknowledgement tokens (signed, single use, expiring) and SMS codes, receipts."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alertstore_fixtures import *  # noqa: F403  (pytest fixtures, by name)
from alertstore_fixtures import FakeClock

from hof.alertstore import AlertStore, Outcome, State, make_engine
from hof.alertstore import notifications as n
from hof.alertstore.models import AttemptStatus, JobPurpose, JobState, NotifyJob

SECRET = b"test-secret-for-ack-links"
LEASE = dt.timedelta(seconds=30)


def _fall(store: AlertStore, home: str = "H-1") -> int:
    result = store.raise_or_update(
        home=home,
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected by wear-1.",
        evidence={"device": "wear-1", "time": 1764000000},
    )
    return result.alert.id


def _levels(now: dt.datetime, waits: list[float]) -> list[n.Step]:
    return [
        n.Step(JobPurpose.ESCALATE, level, 0, now + dt.timedelta(seconds=w))
        for level, w in enumerate(waits)
    ]


def test_a_level_is_created_once(store: AlertStore, clock: FakeClock) -> None:
    alert = _fall(store)
    with n.transaction(store.engine) as s:
        assert n.schedule(s, alert, _levels(clock.now, [0, 60, 240]), clock.now) == 3
    with n.transaction(store.engine) as s:
        assert n.schedule(s, alert, _levels(clock.now, [0, 60, 240]), clock.now) == 0
    with n.transaction(store.engine, write=False) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(NotifyJob)) == 3


def test_due_jobs_are_claimed_in_order_and_only_when_due(
    store: AlertStore, clock: FakeClock
) -> None:
    alert = _fall(store)
    now = clock.now
    with n.transaction(store.engine) as s:
        n.schedule(s, alert, _levels(now, [0, 60, 240]), now)
        jobs = n.claim_due(s, "a", now, dt.timedelta(minutes=10))
        assert [j.level for j in jobs] == [0]
        assert n.next_due(s) == now + dt.timedelta(seconds=60)
    with n.transaction(store.engine) as s:
        assert n.claim_due(s, "b", now + dt.timedelta(seconds=59), LEASE) == []
        assert [j.level for j in n.claim_due(s, "b", now + dt.timedelta(seconds=60), LEASE)] == [1]


def test_two_notifiers_racing_claim_each_job_once(
    make_store: Callable[..., AlertStore], clock: FakeClock
) -> None:
    first = make_store()
    alerts = [_fall(first, f"H-{i}") for i in range(20)]
    with n.transaction(first.engine) as s:
        for alert in alerts:
            n.schedule(s, alert, _levels(clock.now, [0, 0, 0]), clock.now)
    stores = [first, make_store(), make_store(), make_store()]
    taken: dict[str, list[int]] = {}
    barrier = threading.Barrier(len(stores))

    def worker(name: str, st: AlertStore) -> None:
        barrier.wait()
        mine: list[int] = []
        for _ in range(30):
            with n.transaction(st.engine) as s:
                got = n.claim_due(s, name, clock.now, LEASE, limit=3)
            mine += [j.id for j in got]
        taken[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{i}", st)) for i, st in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [job for jobs in taken.values() for job in jobs]
    assert len(every) == 60
    assert len(set(every)) == 60, "a job was claimed twice"


def test_a_lapsed_lease_lets_another_notifier_take_over(
    store: AlertStore, clock: FakeClock
) -> None:
    alert = _fall(store)
    now = clock.now
    with n.transaction(store.engine) as s:
        n.schedule(s, alert, _levels(now, [0]), now)
        (job,) = n.claim_due(s, "dead", now, LEASE)
    later = now + LEASE - dt.timedelta(seconds=1)
    with n.transaction(store.engine) as s:
        assert n.claim_due(s, "b", later, LEASE) == []  # still held
        assert n.renew(s, [job.id], "dead", now + 2 * LEASE) == 1
    after = now + 2 * LEASE + dt.timedelta(seconds=1)
    with n.transaction(store.engine) as s:
        (again,) = n.claim_due(s, "b", after, LEASE)
        assert again.id == job.id
    with n.transaction(store.engine) as s:
        assert not n.finish(s, job.id, "dead", after), "the old owner no longer holds it"
        assert n.finish(s, job.id, "b", after)
        assert n.claim_due(s, "c", after + 10 * LEASE, LEASE) == []


def test_next_takeable_is_the_earliest_due_job_or_lapsing_lease(
    store: AlertStore, clock: FakeClock
) -> None:
    alert = _fall(store)
    now = clock.now
    with n.transaction(store.engine) as s:
        assert n.next_takeable(s) is None
        n.schedule(s, alert, _levels(now, [0, 120]), now)
        assert n.next_takeable(s) == now
        n.claim_due(s, "a", now, LEASE)
        assert n.next_takeable(s) == now + LEASE, "the claimed job's lease runs out first"


def test_cancel_stops_pending_and_claimed_jobs(store: AlertStore, clock: FakeClock) -> None:
    alert = _fall(store)
    now = clock.now
    with n.transaction(store.engine) as s:
        n.schedule(s, alert, _levels(now, [0, 60]), now)
        (held,) = n.claim_due(s, "a", now, LEASE)
        assert n.cancel_pending(s, alert, now, note="acknowledged") == 2
    with n.transaction(store.engine) as s:
        assert n.claim_due(s, "b", now + dt.timedelta(hours=1), LEASE) == []
        assert not n.finish(s, held.id, "a", now), "a cancelled job is not marked done"
        assert s.get(NotifyJob, held.id).state is JobState.CANCELLED  # type: ignore[union-attr]


def test_attempts_are_recorded_and_listed_per_alert(store: AlertStore, clock: FakeClock) -> None:
    a, b = _fall(store, "H-1"), _fall(store, "H-2")
    now = clock.now
    with n.transaction(store.engine) as s:
        n.schedule(s, a, _levels(now, [0]), now)
        (job,) = n.claim_due(s, "x", now, LEASE)
        for attempt, status in ((1, "failed"), (2, "sent")):
            n.record_attempt(
                s,
                alert_id=a,
                job_id=job.id,
                level=0,
                repeat=0,
                channel="webhook",
                recipient_name="Sam",
                recipient_address="http://127.0.0.1:9/hook",
                attempt=attempt,
                status=status,
                detail="HTTP 503" if status == "failed" else "HTTP 200",
                provider_ref=f"ref-{attempt}",
                idempotency_key="k-a-0-0-sam",
                at=now,
            )
        assert n.sent_keys(s, job.id) == {"k-a-0-0-sam"}
        assert n.record_receipt(s, "ref-2", "delivered", now + dt.timedelta(seconds=3)) == 1
    with n.transaction(store.engine, write=False) as s:
        shown = n.attempts_for(s, [a, b])
    assert list(shown) == [a]
    assert [(x.attempt, x.status) for x in shown[a]] == [
        (1, AttemptStatus.FAILED),
        (2, AttemptStatus.DELIVERED),
    ]
    assert shown[a][1].delivered_at == now + dt.timedelta(seconds=3)


def test_link_token_acknowledges_once_and_stops_pending_levels(
    store: AlertStore, clock: FakeClock
) -> None:
    alert = _fall(store)
    now = clock.now
    with n.transaction(store.engine) as s:
        n.schedule(s, alert, _levels(now, [0, 60, 240]), now)
        token, code = n.issue_ack(
            s, alert, "Sam", "sam@example.org", secret=SECRET, now=now, ttl=LEASE
        )
    assert len(code) == 2
    with n.transaction(store.engine, write=False) as s:
        row = s.execute(sa.text("SELECT token_hash FROM notify_ack")).scalar_one()
    assert token not in row, "only a hash of the token is stored"
    with n.transaction(store.engine) as s:
        assert n.peek_token(s, token, SECRET, now).reason == "valid"
        done = n.acknowledge_by_token(s, token, SECRET, now)
    assert (done.ok, done.reason, done.recipient_name) == (True, "acknowledged", "Sam")
    detail = store.get(alert)
    assert detail.alert.state is State.ACKNOWLEDGED
    assert detail.alert.acknowledged_by == "Sam"
    assert detail.history[-1].detail == {"via": "link"}
    with n.transaction(store.engine) as s:
        assert n.claim_due(s, "a", now + dt.timedelta(hours=1), LEASE) == []
        assert n.acknowledge_by_token(s, token, SECRET, now).reason == "used"


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-2] + "xx", lambda t: "9" + t, lambda t: "", lambda t: "a.b"]
)
def test_forged_tokens_are_refused(
    store: AlertStore, clock: FakeClock, mangle: Callable[[str], str]
) -> None:
    alert = _fall(store)
    with n.transaction(store.engine) as s:
        token, _ = n.issue_ack(s, alert, "Sam", "s@x", secret=SECRET, now=clock.now, ttl=LEASE)
    with n.transaction(store.engine) as s:
        assert n.acknowledge_by_token(s, mangle(token), SECRET, clock.now).reason == "unknown"
        assert n.acknowledge_by_token(s, token, b"another secret", clock.now).reason == "unknown"
    assert store.get(alert).alert.state is State.OPEN


def test_an_expired_token_acknowledges_nothing(store: AlertStore, clock: FakeClock) -> None:
    alert = _fall(store)
    with n.transaction(store.engine) as s:
        token, _ = n.issue_ack(s, alert, "Sam", "s@x", secret=SECRET, now=clock.now, ttl=LEASE)
    with n.transaction(store.engine) as s:
        late = clock.now + LEASE
        assert n.acknowledge_by_token(s, token, SECRET, late).reason == "expired"
    assert store.get(alert).alert.state is State.OPEN


def test_a_resolve_racing_an_acknowledgement_ends_resolved(
    store: AlertStore, clock: FakeClock
) -> None:
    alert = _fall(store)
    with n.transaction(store.engine) as s:
        token, _ = n.issue_ack(s, alert, "Sam", "s@x", secret=SECRET, now=clock.now, ttl=LEASE)
    store.resolve(alert, outcome=Outcome.FALSE_ALARM, by="jo")
    with n.transaction(store.engine) as s:
        assert n.acknowledge_by_token(s, token, SECRET, clock.now).reason == "resolved"
    assert store.get(alert).alert.state is State.RESOLVED


def test_sms_code_acknowledges_for_its_phone_only(store: AlertStore, clock: FakeClock) -> None:
    a, b = _fall(store, "H-1"), _fall(store, "H-2")
    with n.transaction(store.engine) as s:
        _, code_a = n.issue_ack(s, a, "Sam", "07700900123", secret=SECRET, now=clock.now, ttl=LEASE)
        _, code_b = n.issue_ack(s, b, "Sam", "07700900123", secret=SECRET, now=clock.now, ttl=LEASE)
        _, again = n.issue_ack(s, a, "Sam", "07700900123", secret=SECRET, now=clock.now, ttl=LEASE)
    assert code_a != code_b, "one phone's live codes are distinct"
    assert again == code_a, "a repeat of a level keeps the code"
    with n.transaction(store.engine) as s:
        assert n.acknowledge_by_code(s, "07700900999", code_a, clock.now).reason == "unknown"
        done = n.acknowledge_by_code(s, "07700900123", f" {code_b.lower()} ", clock.now)
    assert done.ok
    assert done.alert_id == b
    assert store.get(b).alert.state is State.ACKNOWLEDGED
    assert store.get(b).history[-1].detail == {"via": "sms"}
    assert store.get(a).alert.state is State.OPEN


def test_cursor_only_moves_forward(store: AlertStore) -> None:
    with n.transaction(store.engine) as s:
        assert n.read_cursor(s, "notify") is None
        n.write_cursor(s, "notify", 10)
    with n.transaction(store.engine) as s:
        n.write_cursor(s, "notify", 7)
        assert n.read_cursor(s, "notify") == 10


def test_tables_drop_with_the_alert_engine(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert {"notify_job", "notify_attempt", "notify_ack", "notify_cursor"} <= names
    finally:
        engine.dispose()
