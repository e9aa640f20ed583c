"""ingest.influxwrite: InfluxDB's /write on one kept connection, against the real InfluxDB and,
for what a healthy InfluxDB never does (5xx, garbage, silence, a dropped connection), a small
server of the test's own."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from hof.settings import InfluxSettings, Settings
from ingest.influxwrite import LineWriter, WriteRejected, WriteUnavailable

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def test_writes_what_influxdb_stores_on_one_connection(
    settings: Settings, query: Callable[[str], list[dict[str, Any]]]
) -> None:
    home = f"LW-{time.time_ns()}"
    now_ms = int(time.time() * 1000) - 60_000
    async with LineWriter(settings.influx) as writer:
        for i in range(3):
            lines = [
                f"reading,device=env-1,home={home} temperature=2{i}.5,humidity=4{i}.0 {now_ms + i}",
                f"reading,device=env-2,home={home} temperature=1{i}.0 {now_ms + i}",
            ]
            await writer.write(lines)
        first = writer._conn
        await writer.write([])  # nothing to write: no request
        assert writer._conn is first is not None  # kept: one connection for every write
    series = query(f"SELECT count(temperature) FROM reading WHERE home = '{home}'")
    assert series[0]["values"][0][1] == 6


@pytest.mark.parametrize(
    ("change", "status", "text"),
    [
        ({}, 400, "unable to parse"),
        ({"database": "no_such_database"}, 404, "database not found"),
        ({"password": SecretStr("not-the-password")}, 401, "authorization failed"),
    ],
)
async def test_influxdb_refusals_are_rejections(
    settings: Settings, change: dict[str, Any], status: int, text: str
) -> None:
    config = settings.influx.model_copy(update=change)
    async with LineWriter(config) as writer:
        with pytest.raises(WriteRejected) as refused:
            await writer.write(["reading,home=x,device=y temperature= 1"])
    assert refused.value.status == status
    assert text in refused.value.message


class _Server:
    """A loopback HTTP server whose answers the test writes; it counts connections."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                await self.answer(reader, writer)
                if writer.is_closing():
                    return
        writer.close()

    def settings(self, timeout_s: float = 5.0) -> InfluxSettings:
        return InfluxSettings(url=f"http://127.0.0.1:{self.port}", timeout_s=timeout_s)


@contextlib.asynccontextmanager
async def _server(answer: Answer) -> AsyncIterator[_Server]:
    server = _Server(answer)
    listening = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


def _reply(data: bytes, *, close: bool = False) -> Answer:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if close:
            writer.close()

    return answer


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n"


async def test_a_5xx_is_unavailable_and_says_why() -> None:
    body = b'{"error":"timeout"}'
    answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    async with _server(_reply(answer)) as server, LineWriter(server.settings()) as writer:
        with pytest.raises(WriteUnavailable, match="503 timeout"):
            await writer.write(["m f=1 1"])


async def test_a_chunked_refusal_is_read_whole() -> None:
    answer = (
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'9\r\n{"error":\r\n10\r\n"partial write"}\r\n0\r\n\r\n'
    )
    async with _server(_reply(answer)) as server, LineWriter(server.settings()) as writer:
        with pytest.raises(WriteRejected) as refused:
            await writer.write(["m f=1 1"])
    assert refused.value.message == "partial write"
    assert refused.value.status == 400


async def test_a_kept_connection_the_server_closed_is_replaced_at_once() -> None:
    # The server closes after each answer without saying so (an idle timeout, a proxy): the
    # next write finds no answer on the kept connection and goes once more on a new one.
    async with _server(_reply(NO_CONTENT, close=True)) as server:
        async with LineWriter(server.settings()) as writer:
            for i in range(3):
                await writer.write([f"m f={i} {i}"])
        assert server.connections == 3
        for i, request in enumerate(server.requests):
            assert request.endswith(b"m f=%d %d" % (i, i))
        assert all(b"POST /write?db=hof&precision=ms HTTP/1.1" in r for r in server.requests)


async def test_garbage_is_unavailable_and_the_connection_is_not_kept() -> None:
    answers = iter([b"SSH-2.0-OpenSSH\r\n\r\n", NO_CONTENT])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(next(answers))
        await writer.drain()

    async with _server(answer) as server, LineWriter(server.settings()) as writer:
        with pytest.raises(WriteUnavailable, match="not an HTTP answer"):
            await writer.write(["m f=1 1"])
        await writer.write(["m f=1 2"])
        assert server.connections == 2


async def test_silence_is_unavailable_within_the_timeout() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with _server(answer) as server, LineWriter(server.settings(0.3)) as writer:
        began = time.monotonic()
        with pytest.raises(WriteUnavailable, match="TimeoutError"):
            await writer.write(["m f=1 1"])
        assert time.monotonic() - began < 2.0
        assert writer._conn is None


async def test_nobody_listening_is_unavailable() -> None:
    async with _server(_reply(NO_CONTENT)) as server:
        settings = server.settings()
    async with LineWriter(settings) as writer:
        with pytest.raises(WriteUnavailable, match="ConnectionRefusedError"):
            await writer.write(["m f=1 1"])


async def test_a_cancelled_write_never_keeps_its_connection() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with _server(answer) as server, LineWriter(server.settings()) as writer:
        task = asyncio.ensure_future(writer.write(["m f=1 1"]))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert writer._conn is None


async def test_credentials_in_the_url_go_in_authorization_never_in_host() -> None:
    async with _server(_reply(NO_CONTENT)) as server:
        url = f"http://ingest:p%40ss@127.0.0.1:{server.port}/influx/"
        async with LineWriter(InfluxSettings(url=url, database="d b")) as writer:
            await writer.write(["m f=1 1"])
        head = server.requests[0].split(b"\r\n\r\n")[0].decode()
    lines = head.split("\r\n")
    assert lines[0] == "POST /influx/write?db=d+b&precision=ms HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert f"Authorization: Basic {base64.b64encode(b'ingest:p@ss').decode()}" in lines
    assert "p%40ss" not in head


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        LineWriter(InfluxSettings(url="ftp://127.0.0.1:8086"))
