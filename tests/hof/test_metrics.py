"""Metrics render as Prometheus text, parse back, and are served over HTTP."""

from __future__ import annotations

import httpx

from hof.metrics import Registry, parse_text, serve_metrics


def test_render_and_parse_round_trip() -> None:
    registry = Registry()
    counter = registry.counter("hof_test_total", "things")
    counter.inc(reason='we "quote"\\')
    counter.inc(2, reason="plain")
    registry.gauge("hof_started_seconds", "start").set(1763852407.25)
    parsed = parse_text(registry.render())
    assert parsed["hof_test_total"] == {
        (("reason", 'we \\"quote\\"\\\\'),): 1.0,
        (("reason", "plain"),): 2.0,
    }
    assert parsed["hof_started_seconds"][()] == 1763852407.25


async def test_served_over_http() -> None:
    registry = Registry()
    registry.counter("hof_x_total", "x").inc(5)
    server = await serve_metrics(registry, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as client:
            ok = await client.get(f"http://127.0.0.1:{port}/metrics")
            missing = await client.get(f"http://127.0.0.1:{port}/other")
    finally:
        server.close()
        await server.wait_closed()
    assert ok.status_code == 200
    assert "hof_x_total 5.0" in ok.text
    assert missing.status_code == 404
