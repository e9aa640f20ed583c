"""notify/channels/http1.py: the webhook's lean HTTP/1.1 client against raw local servers."""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notify.channels.http1 import HttpError, Pool, origin_of

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: r-1\r\n\r\nok"


async def _serve(answer: bytes, *, close_after: bool) -> tuple[asyncio.Server, list[int]]:
    """A receiver answering every request with `answer`; `close_after` closes the connection
    after each answer without saying so (a keep-alive receiver timing idle connections out)."""
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = id(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                seen.append(conn)
                writer.write(answer)
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


def _pool(server: asyncio.Server) -> tuple[Pool, str]:
    port = server.sockets[0].getsockname()[1]
    origin, target = origin_of(f"http://127.0.0.1:{port}/alert?x=1")
    return Pool(origin, tls=None, keep_alive_s=5, user_agent="t"), target


async def test_posts_share_a_kept_connection_and_read_the_answer() -> None:
    server, seen = await _serve(OK, close_after=False)
    pool, target = _pool(server)
    answers = [
        await pool.post(target, b"{}", {"Content-Type": "application/json"}) for _ in range(3)
    ]
    pool.close()
    server.close()
    assert [(a.status, a.headers["x-request-id"], a.kept_open) for a in answers] == [
        (200, "r-1", True)
    ] * 3
    assert len(set(seen)) == 1  # one connection for the three


async def test_a_kept_connection_closed_by_the_receiver_is_replaced_and_the_post_delivered() -> (
    None
):
    server, seen = await _serve(OK, close_after=True)
    pool, target = _pool(server)
    first = await pool.post(target, b"{}", {})
    await asyncio.sleep(0.05)  # the receiver has closed it; the pool still holds it as idle
    second = await pool.post(target, b"{}", {})
    pool.close()
    server.close()
    assert (first.status, second.status) == (200, 200)
    assert len(seen) == 2  # delivered once each
    assert len(set(seen)) == 2  # on two connections


async def test_a_cancelled_post_closes_its_connection_and_the_next_one_works() -> None:
    never, _ = await _serve(b"", close_after=False)  # reads the request, never answers
    pool, target = _pool(never)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.post(target, b"{}", {}), 0.2)
    assert pool._idle == []  # the half-done connection was not kept
    never.close()
    server, _seen = await _serve(OK, close_after=False)
    pool, target = _pool(server)
    assert (await pool.post(target, b"{}", {})).status == 200
    pool.close()
    server.close()


async def test_a_long_or_malformed_answer_is_an_error_and_not_kept() -> None:
    long = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000
    for answer in (long, b"SMTP ready\r\n\r\n"):
        server, _ = await _serve(answer, close_after=False)
        pool, target = _pool(server)
        with pytest.raises(HttpError):
            await pool.post(target, b"{}", {})
        assert pool._idle == []
        pool.close()
        server.close()


async def test_a_refused_connection_and_a_bad_url_are_errors() -> None:
    server, _ = await _serve(OK, close_after=False)
    pool, target = _pool(server)
    server.close()
    await server.wait_closed()
    with pytest.raises(HttpError):
        await pool.post(target, b"{}", {})
    with pytest.raises(HttpError):
        origin_of("ftp://example.invalid/x")


class _SplitAnswer(BaseHTTPRequestHandler):
    """Python's http.server, as many receivers are: the head and the body of its answer go in
    two writes, the second held back by Nagle's algorithm until the first is acknowledged."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


async def test_posts_on_a_kept_connection_do_not_wait_for_a_delayed_ack() -> None:
    """Linux delays the ACK of the answer's head by 40 ms when it expects us to send again,
    and the receiver's body waits for that ACK: 23 POSTs a second on a kept connection, and a
    burst of falls queued behind each other (issue 10: 150-250 ms of the harness's p99)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SplitAnswer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin, target = origin_of(f"http://127.0.0.1:{server.server_address[1]}/alert")
    pool = Pool(origin, tls=None, keep_alive_s=5, user_agent="t")
    took: list[float] = []
    try:
        for _ in range(20):
            start = time.perf_counter()
            answer = await pool.post(target, b"{}", {})
            took.append(time.perf_counter() - start)
            assert (answer.status, answer.kept_open) == (200, True)
    finally:
        pool.close()
        server.shutdown()
        server.server_close()
    # The delayed ACK's timer is 40 ms at least; a POST here takes about half a millisecond.
    slow = [round(t * 1000, 1) for t in took if t >= 0.035]
    assert len(slow) < 5, f"POSTs waiting on a delayed ACK (ms): {slow}"
