"""The telecare loop through the real stack: a pendant's fall -> rules engine -> alert store ->
notifier (processes) -> a webhook (real HTTP server) and an email (real aiosmtpd, STARTTLS),
escalating level by level until someone acknowledges through the signed link, which stops every
pending level and tells the pendant help is coming. A notifier killed between levels loses and
duplicates nothing; two notifiers send each level once. The test policy waits seconds, not
minutes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
import sqlalchemy as sa
from hofsupport import AlertsProcess, ServiceProcess

from hof.alertstore import AlertStore, State, make_engine
from hof.alertstore import notifications as n
from hof.alertstore.models import JobState, NotifyJob
from hof.stack import Stack
from hof.stack.ports import free_port
from tests.notify.notify_support import Hook, Mailbox, open_hook, open_mailbox

pytestmark = pytest.mark.e2e

LEVEL_WAIT_S = 2.0


class NotifyProcess(ServiceProcess):
    service: ClassVar[str] = "notify"
    defaults: ClassVar[dict[str, str]] = {
        "HOF_NOTIFY__POLL_S": "0.1",
        "HOF_NOTIFY__RETRY_BACKOFF_S": "0.3",
        "HOF_NOTIFY__LEASE_S": "5",
    }


POLICY = """
[people.sam]
name = "Sam Responder"
email = "sam@example.org"
webhook = "{hook}/sam"
[people.alex]
name = "Alex Next"
webhook = "{hook}/alex"
[people.jo]
name = "Jo Lead"
email = "jo@example.org"
[people.broken]
name = "Broken Pager"
webhook = "{hook}/broken/fail"
[people.arc]
name = "Test ARC"
webhook = "{hook}/arc"

[[rotas]]
name = "everyone"
team_lead = "jo"
[[rotas.shifts]]
start = "00:00"
end = "00:00"
people = ["sam", "alex"]

[[policies]]
name = "test-telecare"
kinds = ["fall", "button"]
ack_timeout_s = 600
[[policies.levels]]
wait_s = 0
to = [{{ oncall = 1, via = ["webhook", "email"] }}, {{ hook = true }},
      {{ person = "broken", via = ["webhook"] }}]
[[policies.levels]]
wait_s = {wait}
to = [{{ oncall = 2, via = ["webhook"] }}, {{ team_lead = true, via = ["email"] }}]
[[policies.levels]]
wait_s = {wait}
to = [{{ person = "arc", via = ["webhook"] }}]
repeat = 1
repeat_every_s = 1
"""


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    opened = open_hook()
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    opened = open_mailbox(tmp_path_factory.mktemp("smtp"))
    yield opened
    opened.controller.stop()


@pytest.fixture(scope="module")
def loop_env(
    tmp_path_factory: pytest.TempPathFactory, hook: Hook, mailbox: Mailbox
) -> dict[str, str]:
    """A private alert store for this module's rules engine and notifiers, and the policy."""
    root = tmp_path_factory.mktemp("telecare")
    policy = root / "notify.toml"
    policy.write_text(POLICY.format(hook=hook.url, wait=LEVEL_WAIT_S))
    return {
        "HOF_ALERTSTORE__URL": f"sqlite:///{root / 'alerts.sqlite3'}",
        "HOF_NOTIFY__POLICY_FILE": str(policy),
        "HOF_NOTIFY__WEBHOOK_URL": f"{hook.url}/alert",
        "HOF_NOTIFY__SMTP_HOST": mailbox.host,
        "HOF_NOTIFY__SMTP_PORT": str(mailbox.port),
        "HOF_NOTIFY__SMTP_CA_FILE": str(mailbox.cert),
        # The test's homes are not in the registry: take telecare as consented (hof/consent.py).
        "HOF_RIGHTS__UNRECORDED": '["environment", "activity", "telecare"]',
    }


@pytest.fixture(scope="module")
def rules(stack: Stack, loop_env: dict[str, str]) -> Iterator[AlertsProcess]:
    worker = AlertsProcess(stack.settings.state_dir, "alerts-telecare-loop", **loop_env)
    worker.start()
    yield worker
    if worker.proc is not None:
        worker.stop()


@pytest.fixture(scope="module")
def ack_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def notifier(
    stack: Stack, loop_env: dict[str, str], rules: AlertsProcess, ack_port: int
) -> Iterator[NotifyProcess]:
    worker = NotifyProcess(
        stack.settings.state_dir, "notify-loop-1", HOF_NOTIFY__HTTP_PORT=str(ack_port), **loop_env
    )
    worker.start()
    yield worker
    if worker.proc is not None:
        worker.stop()


@pytest.fixture(scope="module")
def store(loop_env: dict[str, str], notifier: NotifyProcess) -> Iterator[AlertStore]:
    opened = AlertStore(make_engine(loop_env["HOF_ALERTSTORE__URL"]))
    yield opened
    opened.close()


def _posts(hook: Hook, home: str, path: str) -> list[Any]:
    return [r for r in hook.posts(path) if r.json().get("home") == home]


def _mails(mailbox: Mailbox, home: str, to: str) -> list[Any]:
    return [m for m in mailbox.mails() if m["To"] == to and home in str(m["Subject"])]


def _fall(device: Any) -> tuple[float, float]:
    """Publish a fall now from the home's pendant; (its SenML time, when it was sent)."""
    return _fall_from(device("wear-1"))


def _fall_from(pendant: Any) -> tuple[float, float]:
    t = round(time.time(), 3)
    sent = time.time()
    pendant.publish("event", [{"bn": "wear-1/", "bt": t, "n": "fall", "vs": "detected"}])
    return t, sent


def _alert_id(store: AlertStore, home: str, eventually: Any) -> int:
    from hof.alertstore import AlertFilter, Category

    found: list[int] = []

    def look() -> bool:
        page = store.list(AlertFilter(homes=[home], categories=(Category.FALL,)))
        found[:] = [a.id for a in page.items]
        return bool(found)

    assert eventually(look, 10)
    return found[0]


def test_a_fall_reaches_webhook_and_email_and_escalates_level_by_level(
    device: Any, home_id: str, hook: Hook, mailbox: Mailbox, store: AlertStore, eventually: Any
) -> None:
    t, sent = _fall(device)
    assert eventually(lambda: _posts(hook, home_id, "/alert"), 10)
    (post,) = _posts(hook, home_id, "/alert")
    body = post.json()
    assert (body["home"], body["name"], body["ts"], body["level"]) == (home_id, "fall", t, 0)
    assert post.at - sent < 2.0, f"fall to webhook took {post.at - sent:.2f} s"
    assert eventually(lambda: _mails(mailbox, home_id, "sam@example.org"), 10)
    # Sam's webhook and email go out together, in either order (CI, loaded: the email first).
    assert eventually(lambda: _posts(hook, home_id, "/sam"), 10)
    first = min(r.at for r in _posts(hook, home_id, "/sam"))
    alert = _alert_id(store, home_id, eventually)
    raised = store.get(alert).alert.first_raised_at.timestamp()
    # The second level: the next responder and the team lead, LEVEL_WAIT_S after the alert.
    assert eventually(lambda: _posts(hook, home_id, "/alex"), 10)
    second = _posts(hook, home_id, "/alex")[0].at
    assert LEVEL_WAIT_S - 0.05 <= second - raised <= LEVEL_WAIT_S + 1.5
    assert eventually(lambda: _mails(mailbox, home_id, "jo@example.org"), 5)
    # The third, LEVEL_WAIT_S later, and its one repeat a second after that.
    assert eventually(lambda: len(_posts(hook, home_id, "/arc")) == 2, 10)
    third, repeat = sorted(r.at for r in _posts(hook, home_id, "/arc"))
    assert 2 * LEVEL_WAIT_S - 0.05 <= third - raised <= 2 * LEVEL_WAIT_S + 1.5
    assert 2 * LEVEL_WAIT_S + 0.95 <= repeat - raised <= 2 * LEVEL_WAIT_S + 2.5
    # Each once; the failing pager tried three times, and failing it delayed nobody.
    time.sleep(1.0)
    for path in ("/alert", "/sam", "/alex"):
        assert len(_posts(hook, home_id, path)) == 1, path
    assert len(_posts(hook, home_id, "/broken/fail")) == 3
    assert first - sent < 2.0
    with n.transaction(store.engine, write=False) as s:
        attempts = n.attempts_for(s, [alert])[alert]
    broken = [a for a in attempts if a.recipient_name == "Broken Pager"]
    assert [(a.attempt, a.status.value) for a in broken] == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
    ]
    assert {
        (a.level, a.channel, a.recipient_name) for a in attempts if a.status.value == "sent"
    } == {
        (0, "webhook", "Sam Responder"),
        (0, "email", "Sam Responder"),
        (0, "webhook", "webhook"),
        (1, "webhook", "Alex Next"),
        (1, "email", "Jo Lead"),
        (2, "webhook", "Test ARC"),
    }


def test_the_signed_link_acknowledges_once_stops_every_level_and_tells_the_pendant(
    device: Any,
    home_id: str,
    hook: Hook,
    mailbox: Mailbox,
    store: AlertStore,
    eventually: Any,
    watcher: Any,
) -> None:
    notices = watcher(f"hof/v1/{home_id}/+/notice")
    _fall(device)
    assert eventually(lambda: _mails(mailbox, home_id, "sam@example.org"), 10)
    (mail,) = _mails(mailbox, home_id, "sam@example.org")
    match = re.search(r"Acknowledge: (\S+)", mail.get_content())
    assert match
    link = match.group(1)
    page = httpx.get(link, timeout=5)
    assert page.status_code == 200
    assert "Acknowledge this alert" in page.text
    alert = _alert_id(store, home_id, eventually)
    assert store.get(alert).alert.state is State.OPEN, "a GET (a link preview) acknowledges nothing"
    done = httpx.post(link, timeout=5)
    assert done.status_code == 200, done.text
    detail = store.get(alert)
    assert detail.alert.state is State.ACKNOWLEDGED
    assert detail.alert.acknowledged_by == "Sam Responder"
    assert detail.history[-1].detail == {"via": "link"}
    assert httpx.post(link, timeout=5).status_code == 409, "single use"
    assert eventually(lambda: any(m.get("state") == "acknowledged" for m in notices.json()), 5), (
        "the pendant is told help is coming"
    )
    (notice,) = [m for m in notices.json() if m["state"] == "acknowledged"]
    assert notice["alert"] == f"A-{alert}"
    assert notice["text"] == "Help is on the way"
    assert notices.messages[0][0] == f"hof/v1/{home_id}/wear-1/notice"
    # No later level is sent.
    time.sleep(2 * LEVEL_WAIT_S + 1.5)
    assert _posts(hook, home_id, "/alex") == []
    assert _posts(hook, home_id, "/arc") == []
    # Resolving tells the pendant too.
    store.resolve(alert, outcome="fixed", by="sam")
    assert eventually(lambda: any(m.get("state") == "resolved" for m in notices.json()), 5)


def test_sigkill_between_levels_loses_and_duplicates_nothing(
    device: Any,
    home_id: str,
    hook: Hook,
    notifier: NotifyProcess,
    store: AlertStore,
    eventually: Any,
) -> None:
    _fall(device)
    assert eventually(lambda: _posts(hook, home_id, "/sam"), 10)
    alert_id = _alert_id(store, home_id, eventually)

    def first_level_done() -> bool:
        with n.transaction(store.engine, write=False) as session:
            states = session.scalars(
                sa.select(NotifyJob.state).where(
                    NotifyJob.alert_id == alert_id, NotifyJob.level == 0
                )
            ).all()
        return bool(states) and all(s == JobState.DONE for s in states)

    # Between levels: the first one recorded as done. A kill after the POST but before its
    # record is the at-least-once window (the retry carries the same idempotency key).
    assert eventually(first_level_done, 10)
    notifier.kill()
    try:
        time.sleep(LEVEL_WAIT_S + 0.5)  # the second level comes due while nobody runs
        assert _posts(hook, home_id, "/alex") == []
    finally:
        notifier.start()
    assert eventually(lambda: _posts(hook, home_id, "/alex"), 10), "the missed level is sent"
    assert eventually(lambda: len(_posts(hook, home_id, "/arc")) == 2, 10)
    time.sleep(1.5)
    for path, count in (("/alert", 1), ("/sam", 1), ("/alex", 1), ("/arc", 2)):
        assert len(_posts(hook, home_id, path)) == count, path


def test_two_notifiers_send_each_level_once(
    stack: Stack,
    loop_env: dict[str, str],
    notifier: NotifyProcess,
    device: Any,
    home_id: str,
    hook: Hook,
    eventually: Any,
) -> None:
    second = NotifyProcess(
        stack.settings.state_dir,
        "notify-loop-2",
        HOF_NOTIFY__HTTP_PORT=str(free_port()),
        **loop_env,
    )
    second.start()
    try:
        pendant = device("wear-1")
        for _ in range(3):
            _fall_from(pendant)  # three falls while one is open: one alert, one escalation
        assert eventually(lambda: len(_posts(hook, home_id, "/arc")) == 2, 15)
        time.sleep(1.5)
        for path, count in (("/alert", 1), ("/sam", 1), ("/alex", 1), ("/arc", 2)):
            assert len(_posts(hook, home_id, path)) == count, path
        assert second.proc is not None
        assert second.proc.poll() is None, "both notifiers ran throughout"
    finally:
        second.stop()
