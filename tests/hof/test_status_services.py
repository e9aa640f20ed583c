"""`hof status` reads each kind of service's own metrics: the notifier is not an ingest worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hof.metrics import Registry, register_endpoint, serve_metrics
from hof.settings import Settings
from hof.status import render, take_snapshot


async def test_the_notifier_is_shown_with_its_own_figures(tmp_path: Path) -> None:
    registry = Registry()
    attempts = registry.counter("hof_notify_attempts_total", "attempts")
    attempts.inc(3, channel="webhook", status="sent")
    attempts.inc(1, channel="email", status="failed")
    registry.counter("hof_notify_jobs_total", "jobs").inc(2, purpose="level", outcome="done")
    registry.gauge("hof_notify_ready", "ready").set(1)
    server = await serve_metrics(registry, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    register_endpoint(tmp_path, "notify", "n1", f"http://127.0.0.1:{port}/metrics")
    # No InfluxDB answers on port 9: the status says so and goes on.
    settings = Settings(
        environment="test", state_dir=tmp_path, influx={"url": "http://127.0.0.1:9"}
    )
    try:
        snap = await asyncio.to_thread(take_snapshot, settings)
    finally:
        server.close()
    (notify,) = snap.services
    assert notify["attempts"] == 4
    assert notify["attempts_by_status"] == {"sent": 3, "failed": 1}
    assert notify["ready"] is True
    text = render(snap, None)
    assert "attempts         4  (failed 1, sent 3)  (email 1, webhook 3)" in text
    assert "messages in" not in text  # not shown as an ingest worker
