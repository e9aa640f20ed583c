"""CPU a webhook POST costs the notifier's loop: httpx against the lean client it now uses.

    .venv/bin/python bench/notify/http_client.py [--posts 500]

A local `http.server` (HTTP/1.1, keep-alive, the receiver of the peers harness is one) answers
every POST; the same POSTs go through an `httpx.AsyncClient` (16 connections) and through the
webhook channel's own pool (`notify/channels/http1.py`, 16 at once), and the loop thread's CPU
(RUSAGE_THREAD: the server's threads are not counted) and wall time are printed per POST.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from notify.channels.http1 import Pool, origin_of


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


async def _httpx(url: str, body: bytes, n: int) -> tuple[float, float]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=16)) as client:
        await client.post(url, content=body)
        cpu, wall = _cpu(), time.perf_counter()
        await asyncio.gather(*(client.post(url, content=body) for _ in range(n)))
        return _cpu() - cpu, time.perf_counter() - wall


async def _lean(url: str, body: bytes, n: int) -> tuple[float, float]:
    origin, target = origin_of(url)
    pool = Pool(origin, tls=None, keep_alive_s=5, user_agent="bench")
    slots = asyncio.Semaphore(16)

    async def one() -> None:
        async with slots:
            await pool.post(target, body, {"Content-Type": "application/json"})

    await one()
    cpu, wall = _cpu(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    pool.close()
    return _cpu() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=500)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alert"
    body = json.dumps({"home": "H-1", "name": "fall", "text": "x" * 300}).encode()
    for name, run in (("httpx", _httpx), ("lean", _lean)) * 2:
        cpu, wall = asyncio.run(run(url, body, args.posts))
        print(
            f"{name:5} {cpu / args.posts * 1000:6.3f} ms CPU a POST (the loop's thread),"
            f" {wall / args.posts * 1000:6.3f} ms wall a POST, {args.posts} POSTs"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
