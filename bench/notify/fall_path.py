"""A fall's path through the store and the notifier, one fall at a time, in CPU-ms and SQL.

    .venv/bin/python bench/notify/fall_path.py [--falls 40] [--gap-s 0.05]

What the rules engine's store call and the notifier cost for ONE fall, with no other load:
the alert store raise (`AlertStore.raise_events`, as the rules engine's urgent path calls it)
in a thread of its own, then the notifier (in process, the default telecare policy with the
settings' webhook, as the peers harness runs it) woken as the "raised" MQTT message wakes it,
until the webhook's POST has been answered and its attempt row and finish are written. The
receiver is a keep-alive http.server in another process, so its CPU is not counted here.

Per fall, medians and maxima over the falls (the first two are dropped: warm-up):
- `raise`: the store call's CPU (thread time) and wall time, statements, transactions;
- `to_send`: the notifier's CPU (the process's, less nothing: nothing else runs) from the
  wake to the webhook channel's `send` being entered, and the wall time of the same;
- `post`: the send itself (the lean HTTP client's share of the loop) and its wall time;
- `after`: from the send's return until the job's finish is in the store (attempt row,
  finish; the write queue lingers up to 50 ms for company, so its wall time is not a cost);
- `statements` and `transactions` of the notifier per fall, before the send and after it.
CPU figures are the process's: a busy machine stretches wall times, not these.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from alerts.rules import telecare
from hof.alertstore import AlertStore, make_engine, migrate
from hof.alertstore import notifications as n
from hof.alertstore.eventraise import RaiseRequest
from hof.alertstore.models import JobState, NotifyJob
from hof.alertstore.records import RaiseResult
from hof.logs import configure_logging
from hof.settings import NotifySettings
from notify.channels.base import Delivery, Message
from notify.channels.webhook import WebhookChannel
from notify.engine import Notifier
from notify.policy import default_config

RECEIVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        print(time.time(), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


class Counts:
    """Statements and transactions run on an engine's SQLite connections, as SQLite saw them
    (whether SQLAlchemy ran them or `hof.alertstore.direct` did, below it)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements = 0
        self.transactions = 0
        event.listen(engine, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(self._traced)

    def _traced(self, sql: str) -> None:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head == "BEGIN":
            self.transactions += 1
        elif head not in ("COMMIT", "ROLLBACK", "PRAGMA"):
            self.statements += 1

    def now(self) -> tuple[int, int]:
        return self.statements, self.transactions


class Timed(WebhookChannel):
    """The webhook channel, noting the process's CPU and the time when a send starts and ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marks: list[tuple[float, float, float, float]] = []
        self.started = asyncio.Event()

    async def send(self, message: Message) -> Delivery:
        cpu, wall = time.process_time(), time.perf_counter()
        self.started.set()
        try:
            return await super().send(message)
        finally:
            self.marks.append((cpu, wall, time.process_time(), time.perf_counter()))


def _fall(home: str, t: float) -> RaiseRequest:
    """A fall as the rules engine asks the store to raise it (alerts/rules/telecare.py)."""
    evidence = {"device": "wear-1", "name": "fall", "value": 1, "time": t}
    evidence["rule_source"] = "alerts/rules/telecare.py"
    summary = "Fall detected by wear-1."
    return RaiseRequest(home, "fall", 1, "fall", "responder", "emergency", summary, evidence)


def _finished(engine: sa.Engine, alert_id: int) -> bool:
    with n.transaction(engine, write=False) as s:
        state = s.scalar(
            sa.select(NotifyJob.state).where(NotifyJob.alert_id == alert_id, NotifyJob.level == 0)
        )
    return state is JobState.DONE


def _line(name: str, values: list[float], unit: str) -> str:
    return f"{name:<28} p50 {statistics.median(values):7.2f} {unit}   max {max(values):7.2f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--falls", type=int, default=40)
    parser.add_argument("--gap-s", type=float, default=0.05, help="idle time between falls")
    # Seldom, so that the idle polls' CPU is not counted in a fall's: the wake drives a fall.
    parser.add_argument("--poll-s", type=float, default=5.0)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave out gc.freeze() (the services do it)"
    )
    args = parser.parse_args()
    configure_logging(args.log_level, "json")
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        arrivals: list[float] = []
        reader = threading.Thread(
            target=lambda: arrivals.extend(float(line) for line in receiver.stdout or ()),
            daemon=True,
        )
        reader.start()
        rows, pauses = asyncio.run(_run(args, port, arrivals))
    finally:
        receiver.terminate()
        receiver.wait()
    kept = rows[2:]
    for name in kept[0]:
        unit = "" if "statements" in name or "transactions" in name else "ms"
        print(_line(name, [r[name] for r in kept], unit))
    full = pauses.ms[2]
    print(f"full collections: {len(full)}, longest {max(full, default=0):.1f} ms")


class Pauses:
    """How long the collector held the process, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.ms: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._began = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.ms[info["generation"]].append((time.perf_counter() - self._began) * 1000)


Rows = list[dict[str, float]]


async def _run(args: argparse.Namespace, port: int, arrivals: list[float]) -> tuple[Rows, Pauses]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'alerts.sqlite3'}"
        migrate(url)
        store = AlertStore(make_engine(url))
        raising = Counts(store.engine)
        engine = make_engine(url)
        notifying = Counts(engine)
        hook = Timed(b"k", timeout_s=5)
        settings = NotifySettings(
            client_id="bench", webhook_url=f"http://127.0.0.1:{port}/alert", poll_s=args.poll_s
        )
        notifier = Notifier(
            settings,
            default_config(),
            {"webhook": hook},
            engine,
            ack_secret=b"s",
            public_url="http://127.0.0.1:1",
        )
        stop = asyncio.Event()
        running = asyncio.create_task(notifier.run(stop))
        raiser = ThreadPoolExecutor(1)  # the rules engine's store thread
        loop = asyncio.get_running_loop()
        rows: Rows = []
        await asyncio.sleep(0.5)
        if not args.no_freeze:  # as notify/service.py and the rules engine do once started
            gc.collect()
            gc.freeze()
        pauses = Pauses()  # the collector's, from the first fall on
        for i in range(args.falls):
            request = _fall(f"home-{i:05d}", 1_764_000_000 + i)

            def raise_one(request: RaiseRequest = request) -> tuple[int, float, float]:
                cpu, wall = time.thread_time(), time.perf_counter()
                (result,) = store.raise_events(
                    [request],
                    evidence_with_open=telecare.with_raisers,
                    at=dt.datetime.now(dt.UTC),
                )
                assert isinstance(result, RaiseResult)
                return result.alert.id, time.thread_time() - cpu, time.perf_counter() - wall

            s0, t0 = raising.now()
            began = time.time()
            alert_id, raise_cpu, raise_wall = await loop.run_in_executor(raiser, raise_one)
            s1, t1 = raising.now()
            ns0, nt0 = notifying.now()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            marks = len(hook.marks)
            hook.started.clear()
            # As notify/service.py does on the rules engine's "raised" message (a tree from
            # before `heard_raised` woke the history round: PYTHONPATH=<tree> compares them).
            if hasattr(notifier, "heard_raised"):
                notifier.heard_raised(alert_id, "raised")
            else:
                notifier.wake()
            await asyncio.wait_for(hook.started.wait(), 10)
            ns1, nt1 = notifying.now()
            # The job's task ends once its attempt row and finish are written.
            await asyncio.wait_for(
                asyncio.gather(*(task for _, task in list(notifier.running.values()))), 10
            )
            ns2, nt2 = notifying.now()
            cpu2 = time.process_time()
            sent_cpu, sent_wall, done_cpu, done_wall = hook.marks[marks]
            assert _finished(store.engine, alert_id)
            rows.append(
                {
                    "raise_cpu": raise_cpu * 1000,
                    "raise_wall": raise_wall * 1000,
                    "raise_statements": s1 - s0,
                    "raise_transactions": t1 - t0,
                    "to_send_cpu": (sent_cpu - cpu0) * 1000,
                    "to_send_wall": (sent_wall - wall0) * 1000,
                    "post_cpu": (done_cpu - sent_cpu) * 1000,
                    "post_wall": (done_wall - sent_wall) * 1000,
                    "after_cpu": (cpu2 - done_cpu) * 1000,
                    "statements_to_send": ns1 - ns0,
                    "transactions_to_send": nt1 - nt0,
                    "statements_after": ns2 - ns1,
                    "transactions_after": nt2 - nt1,
                    "raised_to_post_received": (arrivals[-1] - began) * 1000,
                }
            )
            await asyncio.sleep(args.gap_s)
        stop.set()
        await running
        await hook.aclose()
        engine.dispose()
        store.close()
        raiser.shutdown()
    return rows, pauses


if __name__ == "__main__":
    main()
