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


async def _alerts_workers(tmp_path: Path, rules: list[str], unmatched: float = 0.0) -> str:
    """`hof status` over rules-engine workers judging `rules`, as rendered."""
    servers = []
    for i, which in enumerate(rules):
        registry = Registry()
        registry.gauge("hof_alerts_rules", "rules").set(1.0, rules=which)
        registry.gauge("hof_alerts_ready", "ready").set(1)
        registry.gauge("hof_alerts_settings_unmatched", "unmatched").set(unmatched)
        server = await serve_metrics(registry, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        register_endpoint(tmp_path, "alerts", f"a{i}", f"http://127.0.0.1:{port}/metrics")
    settings = Settings(
        environment="test", state_dir=tmp_path, influx={"url": "http://127.0.0.1:9"}
    )
    try:
        snap = await asyncio.to_thread(take_snapshot, settings)
    finally:
        for server in servers:
            server.close()
    return render(snap, None)


async def test_a_rest_worker_without_a_telecare_worker_is_a_warning(tmp_path: Path) -> None:
    """A careless install runs the `rest` unit alone: every fall would go unjudged."""
    text = await _alerts_workers(tmp_path, ["rest"])
    assert "WARNING: no rules-engine worker with rules=telecare" in text
    assert "falls, help calls, leaks and smoke are NOT judged" in text
    assert "every rule but the telecare events" in text


async def test_a_telecare_worker_beside_a_rest_worker_is_no_warning(tmp_path: Path) -> None:
    text = await _alerts_workers(tmp_path, ["telecare", "rest"])
    assert "WARNING" not in text
    assert "telecare events only" in text
    only = await _alerts_workers(tmp_path / "b", ["telecare"])
    assert "rules=rest is running: readings, statuses and inactivity are NOT judged" in only


async def test_per_home_settings_that_match_no_device_are_a_warning(tmp_path: Path) -> None:
    """A misspelt home id in the per-home settings file applies to nothing: the status says so
    where an installer looks, not only in the worker's log."""
    text = await _alerts_workers(tmp_path, ["all"], unmatched=2)
    assert (
        "WARNING: its per-home settings name 2 home(s) or room(s) no device is in: each in its "
        "log (alerts_settings_unmatched)"
    ) in text
    assert "WARNING" not in await _alerts_workers(tmp_path / "b", ["all"])
