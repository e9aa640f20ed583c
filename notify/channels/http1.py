"""A lean HTTP/1.1 POST over kept-alive connections (h11 on asyncio streams), for webhooks.

httpx costs about 3 ms of CPU a POST (its request and response models, auth and hook flows,
httpcore's pool); this client 0.35-0.48 ms (bench/notify/http_client.py: 500 POSTs to a local
http.server). In a burst of falls the notifier's loop shares two cores with everything else,
and fifty POSTs through httpx were 150 ms of CPU before the last one left (docs/notify.md,
Latency). What a webhook needs of HTTP is small: one POST, a status, two headers, keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import structlog

from hof.waiting import within

__all__ = ["Answer", "HttpError", "Origin", "Pool", "origin_of"]

log = structlog.get_logger(__name__)

MAX_ANSWER_BYTES = 64 * 1024  # a receiver's answer body is read and dropped, up to this
READ_BYTES = 65536
# Linux only; elsewhere the answer may wait on a delayed ACK, as before (`_Conn.ack_now`).
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
WARM_CHECK_S = 1.0  # how often a warm pool looks for connections the receiver has closed
WARM_RETRY_MOST_S = 60.0  # the longest pause between tries to reach a receiver that is down
# A warm connection not made in this long is given up (a receiver whose SYNs go unanswered
# would hold the pool's opening lock for the kernel's two minutes).
WARM_CONNECT_S = 5.0


class HttpError(Exception):
    """The POST got no answer: connection refused or reset, TLS, or a malformed answer."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    kept_open: bool


def origin_of(url: str) -> tuple[Origin, str]:
    """The origin a URL's requests go to, and the request target (path and query)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {url[:200]!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port), target


@dataclass(slots=True, eq=False)  # by identity: a pool keeps a set of its open connections
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float

    def close(self) -> None:
        self.writer.close()

    def ack_now(self) -> None:
        """Acknowledge what has been read at once, not after the delayed ACK's 40 ms.

        Many receivers (Python's http.server among them) write an answer's head and body in
        two writes, and Nagle's algorithm holds the body until the head is acknowledged. Linux
        delays that ACK while it expects us to send again (a request-answer exchange), so every
        POST on a kept connection waited 40 ms: 23 a second on a connection, and a burst of
        falls queued behind each other (tests/notify/test_http1.py). The option is not sticky
        (the kernel goes back to delaying), so it is set after every read; setting it sends
        an ACK that is due."""
        if _QUICKACK is None:
            return
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            # Not TCP (a socket pair), or closed meanwhile: nothing to speed up.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


class Pool:
    """Kept-alive connections to one origin. Callers bound how many are in use at once.

    A pool can be kept warm (`keep_warm`): that many connections stay open whether used or
    not, so a fall's POST needs no handshake (a TLS receiver's two round trips and its CPU),
    and a receiver that starts a thread or process per connection has started it long before
    the burst. A new connection in a burst was the slowest POST of the harness's bursts: its
    receiver's new thread waited 73-218 ms for a CPU (`perf sched`, docs/notify.md)."""

    def __init__(
        self, origin: Origin, *, tls: ssl.SSLContext | None, keep_alive_s: float, user_agent: str
    ) -> None:
        self.origin = origin
        self.tls = tls if origin.scheme == "https" else None
        self.keep_alive_s = keep_alive_s
        self.user_agent = user_agent
        self.host_header = (
            origin.host if origin.port in (80, 443) else f"{origin.host}:{origin.port}"
        )
        self._idle: list[_Conn] = []  # the last is taken first: the most recently answered on
        self._open_now: set[_Conn] = set()  # idle or in use
        self._opening = asyncio.Lock()
        self.warm = 0  # connections kept open, used or not (`keep_warm`)

    def keep_warm(self, count: int) -> asyncio.Task[None]:
        """Keep `count` connections open from now until the task returned is cancelled: those
        a receiver closes (its idle timeout, a restart) are opened again within
        `WARM_CHECK_S`; a receiver that cannot be reached is tried again after 1 s, doubling
        to `WARM_RETRY_MOST_S`. Warm connections are kept however long they are idle: one the
        receiver closes just as a POST goes out is retried on a new one (`post`)."""
        self.warm = count
        return asyncio.create_task(self._keep_warm())

    async def _keep_warm(self) -> None:
        pause = WARM_CHECK_S
        while True:
            self._drop_closed()
            try:
                while len(self._open_now) < self.warm:
                    # One at a time, as `post` opens them; new ones go to the bottom of the
                    # idle list, so POSTs take those already answered on first.
                    async with self._opening:
                        try:
                            conn = await within(self._open(), WARM_CONNECT_S)
                        except TimeoutError as exc:
                            raise HttpError(f"no connection in {WARM_CONNECT_S:g} s") from exc
                    self._idle.insert(0, conn)
                pause = WARM_CHECK_S
            except HttpError as exc:
                log.warning(
                    "webhook_warm_failed",
                    receiver=f"{self.origin.scheme}://{self.host_header}",
                    error=str(exc),
                    retry_s=pause,
                )
                await asyncio.sleep(pause)
                pause = min(WARM_RETRY_MOST_S, pause * 2)
                continue
            await asyncio.sleep(pause)

    def _drop_closed(self) -> None:
        for conn in [c for c in self._idle if c.reader.at_eof() or c.writer.is_closing()]:
            self._idle.remove(conn)
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        self._open_now.discard(conn)
        conn.close()

    async def post(self, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST `body`; a kept connection the receiver has meanwhile closed is retried once on
        a new one (nothing was answered on it, and the request carries its idempotency key)."""
        conn = self._take()
        if conn is not None:
            try:
                return await self._exchange(conn, target, body, headers)
            except _Answered as exc:
                raise HttpError(str(exc)) from exc
            except (HttpError, OSError):
                pass  # closed by the receiver while it was idle here: on a new one
        # A new connection is opened only when no other is being opened and answered on: the
        # receiver's accept queue may be small (http.server's holds 5) and its accepting thread
        # slow on a busy machine, and a SYN it drops is tried again only after a second. A
        # connection has been accepted once it is answered on.
        async with self._opening:
            conn = self._take()
            if conn is None:
                return await self._send_on(await self._open(), target, body, headers)
        return await self._send_on(conn, target, body, headers)  # one freed meanwhile

    async def _send_on(
        self, conn: _Conn, target: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        try:
            return await self._exchange(conn, target, body, headers)
        except (HttpError, OSError) as exc:
            raise HttpError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._close(conn)

    def _take(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            fresh = now - conn.idle_since < self.keep_alive_s or len(self._open_now) <= self.warm
            if fresh and not conn.reader.at_eof():
                return conn
            self._close(conn)
        return None

    async def _open(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(
                self.origin.host,
                self.origin.port,
                ssl=self.tls,
                server_hostname=self.origin.host if self.tls else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        conn = _Conn(reader, writer, time.monotonic())
        self._open_now.add(conn)
        return conn

    async def _exchange(
        self, conn: _Conn, target: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        try:
            return await self._exchange_on(conn, target, body, headers)
        except BaseException:
            self._close(conn)  # failed or cancelled half way: never used again
            raise

    async def _exchange_on(
        self, conn: _Conn, target: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        http = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="POST",
            target=target,
            headers=[
                ("Host", self.host_header),
                ("User-Agent", self.user_agent),
                ("Content-Length", str(len(body))),
                *headers.items(),
            ],
        )
        answer: h11.Response | None = None
        got = 0
        try:
            conn.writer.write(
                http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
            )
            await conn.writer.drain()
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    data = await conn.reader.read(READ_BYTES)
                    conn.ack_now()
                    if not data and answer is not None:
                        raise _Answered("the receiver closed the connection mid-answer")
                    http.receive_data(data)  # b"" is the end of the stream: h11 says if early
                    continue
                if isinstance(event, h11.Response):
                    answer = event
                elif isinstance(event, h11.Data):
                    got += len(event.data)
                    if got > MAX_ANSWER_BYTES:
                        raise _Answered(f"answer longer than {MAX_ANSWER_BYTES} bytes")
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise HttpError("the receiver closed the connection without an answer")
        except h11.ProtocolError as exc:
            raise _Answered(f"not HTTP/1.1: {exc}") if answer else HttpError(str(exc)) from exc
        assert answer is not None  # EndOfMessage comes after a Response
        names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in answer.headers}
        kept = http.our_state is h11.DONE and http.their_state is h11.DONE
        if kept:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._close(conn)
        return Answer(answer.status_code, names, kept)


class _Answered(HttpError):
    """The receiver had begun to answer: the POST reached it, so it is not sent again here."""
