"""bench/ingest's own measuring must not load the machine it measures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
from hofsupport import load_file

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ingest" / "__main__.py"


def _bench() -> ModuleType:
    return load_file("bench_ingest", BENCH)


class _Metrics(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection, as the workers' endpoint does
    connections = 0

    def setup(self) -> None:
        type(self).connections += 1
        super().setup()

    def do_GET(self) -> None:
        body = b'hof_ingest_points_written_total{channel="reading"} 1234\nhof_ingest_ready 1\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Metrics.connections = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_the_drain_is_polled_over_one_kept_connection(tmp_path: Path, endpoint: str) -> None:
    # httpx.get built a client and a TLS context a poll: ~40 ms of the bench's CPU each,
    # taken from the two cores the workers and InfluxDB were measured on.
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "ingest-w1.json").write_text(json.dumps({"url": endpoint}))
    scraper = _bench().Scraper(tmp_path)
    try:
        for _ in range(5):
            samples = scraper.metrics("w1")
            assert samples["hof_ingest_points_written_total"] == 1234
            assert samples["hof_ingest_ready"] == 1
        assert scraper.metrics("nobody") == {}
    finally:
        scraper.close()
    assert _Metrics.connections == 1
