"""InfluxDB's `/write` for the ingest worker: one kept HTTP/1.1 connection, no HTTP library.

A worker writes one batch at a time, so it needs one connection and none of an HTTP client's
pool, models and async layers: httpx (`hof.influx`) cost 2.3-2.6 ms of CPU a 5,000-line write,
this 0.5-0.6 ms (docs/storage.md, "What ingest costs"). It speaks what InfluxDB's v1 `/write`
answers (InfluxDB 1.x, and 2.x/3.x through their v1 compatibility layer): a status line,
headers, and a body of Content-Length bytes, or chunked, or up to the close.

    2xx                 stored
    4xx                 WriteRejected: refused (bad points, field type conflict, auth, no such
                        database); writing it again will not help
    5xx, no answer,     WriteUnavailable: retry later; the connection is dropped on anything
    anything unreadable but a whole answer, and never kept after a cancelled or failed exchange

A kept connection that the server closed while idle shows itself on the next write (no
answer at all): that write is sent once more on a new connection. Storage is idempotent, so a
write that had been stored before the close is only stored again. TLS (an https URL) verifies
the server against the system's certificate authorities.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
from collections.abc import Sequence
from typing import Self
from urllib.parse import unquote, urlencode, urlsplit

from hof.settings import InfluxSettings
from hof.waiting import within

__all__ = ["LineWriter", "WriteRejected", "WriteUnavailable"]

# An answer's body is an error message at most: anything longer is not InfluxDB's.
MAX_BODY = 1 << 20


# Its own pair of errors, alike to hof.influx's InfluxUnavailable and InfluxRejected: that module
# imports httpx, which a worker then need not load at all (2-3 MiB of its RSS).


class WriteUnavailable(Exception):
    """InfluxDB is down, unreachable, overloaded or failed: the write may succeed later."""


class WriteRejected(Exception):
    """InfluxDB refused the write (4xx): the same points would be refused again."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"InfluxDB refused the write ({status}): {message}")


class _NoAnswer(Exception):
    """The connection closed before any byte of an answer (a kept one the server closed)."""


class LineWriter:
    """Line protocol to one database's `/write` (precision ms); use as an async context
    manager, one write at a time."""

    def __init__(self, settings: InfluxSettings) -> None:
        url = urlsplit(settings.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {settings.url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if url.scheme == "https" else None
        self.timeout_s = settings.timeout_s
        query = urlencode({"db": settings.database, "precision": "ms"})
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        host += f":{url.port}" if url.port else ""
        head = f"POST {url.path.rstrip('/')}/write?{query} HTTP/1.1\r\nHost: {host}\r\n"
        # The settings' credentials, else the URL's own (as httpx took them), never in Host.
        username = settings.username or unquote(url.username or "")
        password: str | None = None
        if settings.username and settings.password is not None:
            password = settings.password.get_secret_value()
        elif url.password is not None:
            password = unquote(url.password)
        if username and password is not None:
            secret = base64.b64encode(f"{username}:{password}".encode()).decode()
            head += f"Authorization: Basic {secret}\r\n"
        self._head = head + "Content-Type: text/plain; charset=utf-8\r\n"
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn[1].close()
            with contextlib.suppress(OSError, TimeoutError):
                await within(conn[1].wait_closed(), 1.0)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn[1].transport.abort()

    async def write(self, lines: Sequence[str]) -> None:
        """Write the lines as one request; WriteUnavailable (retry) or WriteRejected."""
        if not lines:
            return
        body = "\n".join(lines).encode()
        request = self._head.encode() + b"Content-Length: %d\r\n\r\n" % len(body)
        try:
            async with asyncio.timeout(self.timeout_s):
                kept = self._conn is not None
                try:
                    status, answer = await self._exchange(request, body)
                except _NoAnswer:
                    if not kept:
                        raise
                    status, answer = await self._exchange(request, body)
        except (OSError, TimeoutError, ValueError, EOFError, _NoAnswer) as exc:
            self._drop()
            raise WriteUnavailable(f"POST /write: {type(exc).__name__}: {exc}") from exc
        except BaseException:  # cancelled mid-exchange: what is left on the wire is unknown
            self._drop()
            raise
        if status < 300:
            return
        message = _message(answer)
        if status >= 500:
            raise WriteUnavailable(f"POST /write: {status} {message}")
        raise WriteRejected(status, message)

    async def _exchange(self, request: bytes, body: bytes) -> tuple[int, bytes]:
        if self._conn is not None and (self._conn[0].at_eof() or self._conn[1].is_closing()):
            self._drop()  # closed by the server while kept: seen before sending on it
        if self._conn is None:
            self._conn = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None,
            )
        reader, writer = self._conn
        try:
            writer.write(request)
            writer.write(body)
            await writer.drain()
            line = await reader.readline()
        except ConnectionError as exc:
            self._drop()
            raise _NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if not line:
            self._drop()
            raise _NoAnswer("the connection closed before an answer")
        version, _, rest = line.partition(b" ")
        if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
            raise ValueError(f"not an HTTP answer: {line[:80]!r}")
        status = int(rest[:3])
        length: int | None = None
        chunked = False
        close = version == b"HTTP/1.0"
        while (header := await reader.readline()) not in (b"\r\n", b"\n"):
            if not header.endswith(b"\n"):
                raise EOFError("the connection closed in the headers")
            name, _, value = header.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.endswith(b"chunked")
            elif name == b"connection":
                close = value == b"close"
        if chunked:
            answer = await _chunks(reader)
        elif length is not None:
            if not 0 <= length <= MAX_BODY:
                raise ValueError(f"a body of {length} bytes")
            answer = await reader.readexactly(length)
        elif status == 204 or status == 304:
            answer = b""
        else:
            answer = await reader.read(MAX_BODY)
            close = True
        if close:
            self._drop()
        return status, answer


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    answer = bytearray()
    while True:
        size_line = await reader.readline()
        if not size_line.endswith(b"\n"):
            raise EOFError("the connection closed in a chunked body")
        size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
        if size == 0:
            while (trailer := await reader.readline()) not in (b"\r\n", b"\n"):
                if not trailer:
                    raise EOFError("the connection closed in a chunked body's trailer")
            return bytes(answer)
        if len(answer) + size > MAX_BODY:
            raise ValueError("a chunked body over 1 MiB")
        answer += await reader.readexactly(size)
        await reader.readexactly(2)  # the chunk's CRLF


def _message(answer: bytes) -> str:
    """InfluxDB's error text: JSON's "error" when it is JSON, else the body as text."""
    text = answer.decode(errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])[:500]
    return text[:500]
