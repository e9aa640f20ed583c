"""The demo's telecare loop, as `hof demo` runs it: the simulator (its homes registered with the
tenants' consent, `--telecare`), ingest, the rules engine and the notifier as processes, the
demo's own policy and its SMTP catcher and webhook receiver. A simulated pendant falls; the
demo responder's mail arrives in the catcher's directory with an acknowledgement link;
POSTing the link acknowledges the alert; the simulated pendant shows "acknowledged"."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from hofsupport import AlertsProcess, IngestProcess, ServiceProcess, wait_until

from hof.alertstore import AlertStore, State, make_engine
from hof.demo import _notify_catcher
from hof.settings import Settings
from hof.stack import Stack
from hof.stack.ports import free_port
from simulator.estate import Estate
from simulator.telecare import telecare_homes

pytestmark = pytest.mark.e2e

HOMES, SEED, PREFIX = 8, 3, "DTC"


class NotifyProcess(ServiceProcess):
    service: ClassVar[str] = "notify"
    defaults: ClassVar[dict[str, str]] = {"HOF_NOTIFY__POLL_S": "0.1"}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _log(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@pytest.fixture
def demo(stack: Stack, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The demo's services on the session's stack, with a private alert store and state."""
    root = tmp_path / "demo"
    root.mkdir()
    logs = root / "logs"
    common = {
        "HOF_ALERTSTORE__URL": f"sqlite:///{root / 'alerts.sqlite3'}",
        # The demo's default: nothing but the environment without a recorded agreement, so
        # the fall reaches the rules only because `--register` recorded the tenant's consent.
        "HOF_RIGHTS__UNRECORDED": '["environment"]',
    }
    catcher, notify_env, inbox = _notify_catcher(
        Settings(environment="test", state_dir=root), logs, dict(os.environ)
    )
    started: list[ServiceProcess] = []
    sim: subprocess.Popen[bytes] | None = None
    try:
        assert (inbox / "catcher-cert.pem").exists(), "the catcher made its certificate"
        state = stack.settings.state_dir
        for worker in (
            IngestProcess(state, "ingest-demo-telecare", **common),
            AlertsProcess(state, "alerts-demo-telecare", **common),
            NotifyProcess(
                state,
                "notify-demo-telecare",
                HOF_NOTIFY__HTTP_PORT=str(free_port()),
                **common,
                **notify_env,
            ),
        ):
            worker.start()
            started.append(worker)
        sim_log = root / "simulate.log"
        env = {
            **os.environ,
            "HOF_STATE_DIR": str(state),
            "HOF_ENVIRONMENT": "test",
            "HOF_LOG_FORMAT": "json",
            **common,
        }
        with sim_log.open("ab") as log:
            sim = subprocess.Popen(
                [
                    *(sys.executable, "-m", "hof.cli", "simulate", "--homes", str(HOMES)),
                    *("--seed", str(SEED), "--id-prefix", PREFIX, "--interval", "10"),
                    *("--register", "--telecare", "--telecare-rate", "60", "--duration", "3m"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield {"inbox": inbox, "sim": sim, "sim_log": sim_log, "store": common, "root": root}
    finally:
        if sim is not None:
            _stop(sim)
        for worker in reversed(started):
            if worker.proc is not None:
                worker.stop()
        _stop(catcher)


def _fall_mails(inbox: Path) -> list[email.message.EmailMessage]:
    out = []
    for path in sorted((inbox / "mail").glob("*responder@demo.invalid*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        if str(parsed["Subject"]).startswith("Fall at"):
            out.append(parsed)
    return out


def test_the_demo_responder_gets_the_fall_acknowledges_it_and_the_pendant_shows_it(
    demo: dict[str, Any],
) -> None:
    homes = {h.id: h for h in telecare_homes(Estate(HOMES, SEED, id_prefix=PREFIX))}
    assert homes, "the seed gives the estate telecare homes"
    inbox, sim_log = demo["inbox"], demo["sim_log"]

    # The first telecare event of the run is a fall, 20-60 s into it.
    sim = demo["sim"]
    assert wait_until(lambda: bool(_fall_mails(inbox)) or sim.poll() is not None, 120)
    assert _fall_mails(inbox), (
        f"no fall mail for the demo responder; simulator:\n{sim_log.read_text()[-3000:]}"
    )
    mail = _fall_mails(inbox)[0]
    home = str(mail["Subject"]).removeprefix("Fall at").strip()
    assert home in homes
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"http://127\.0\.0\.1:\d+/ack/[A-Za-z0-9_.-]+", body.get_content())
    assert link, body.get_content()
    falls = [e for e in _log(sim_log) if e.get("event") == "simulate_telecare"]
    assert any(home in e["topic"] for e in falls), "the simulator said it published it"
    # The webhook receiver has it too.
    assert any(home in p.name for p in (inbox / "webhook").glob("*.json"))

    confirm = httpx.get(link.group(0), timeout=10)
    assert confirm.status_code == 200
    done = httpx.post(link.group(0), timeout=10)
    assert done.status_code == 200, done.text
    assert "acknowledged" in done.text.lower()

    store = AlertStore(make_engine(demo["store"]["HOF_ALERTSTORE__URL"]))
    try:
        from hof.alertstore import AlertFilter, Category

        (fall,) = store.list(AlertFilter(homes=[home], categories=(Category.FALL,))).items
        assert store.get(fall.id).alert.state is State.ACKNOWLEDGED
        assert store.get(fall.id).alert.acknowledged_by == "Demo responder"
    finally:
        store.close()

    def shown() -> list[dict[str, Any]]:
        return [
            e
            for e in _log(sim_log)
            if e.get("event") == "pendant_shows"
            and e.get("state") == "acknowledged"
            and e.get("alert") == f"A-{fall.id}"
        ]

    # Every device of the home the notifier has heard is told; the pendant that fell among them.
    pendant = homes[home].pendant
    told = wait_until(lambda: pendant in {e["device"] for e in shown()}, 20)
    assert told, sim_log.read_text()[-3000:]
    notice = next(e for e in shown() if e["device"] == pendant)
    assert notice["home"] == home
    assert notice["shows"] == "slow green pulse, two short beeps"
