"""Real receivers for the notifier's tests: an HTTP webhook server and an SMTP server (aiosmtpd)
with STARTTLS and a self-signed certificate made for the test. Both on loopback, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import json
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from hofsupport import fall_request

from hof.alertstore import AlertStore, make_engine, migrate
from hof.registry import upsert_homes
from hof.registry.homes import HomeIn
from hof.settings import NotifySettings
from hof.stack.ports import free_port
from notify.channels.webhook import WebhookChannel
from notify.engine import Notifier
from notify.policy import NotifyConfig

__all__ = [
    "Hook",
    "Mailbox",
    "Received",
    "hook",
    "mailbox",
    "open_hook",
    "open_mailbox",
    "open_store",
    "raise_fall",
    "raise_offline",
    "running_notifier",
    "self_signed",
    "until",
]


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    peer: int = 0  # the sender's port: one per connection

    def json(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class Hook:
    """A webhook receiver: records every POST; answers `status` (a path ending /fail: 503,
    /slow: after `slow_s`)."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    slow_s: float = 3.0

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def accepted(self) -> list[int]:
        """The sender's port of every connection accepted, in order."""
        return list(self.server.accepted) if isinstance(self.server, _Counting) else []

    def posts(self, path: str | None = None) -> list[Received]:
        return [r for r in list(self.received) if path is None or r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Counting(ThreadingHTTPServer):
    """Counts the connections it accepts."""

    accepted: list[int]

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.accepted.append(int(client_address[1]))
        return True


def _handler(
    hook_ref: list[Hook], keep_alive: bool, idle_timeout_s: float | None = None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 closes each connection after its answer; 1.1 keeps it for the next request.
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
        timeout = idle_timeout_s  # a kept connection idle this long is closed (None: never)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            hook = hook_ref[0]
            peer = int(self.client_address[1])
            hook.received.append(Received(time.time(), self.path, dict(self.headers), body, peer))
            if self.path.endswith("/slow"):
                time.sleep(hook.slow_s)
            status = 503 if self.path.endswith("/fail") else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def open_hook(*, keep_alive: bool = False, idle_timeout_s: float | None = None) -> Hook:
    """A running receiver (http.server's, with its accept backlog of 5); `close()` it."""
    ref: list[Hook] = []
    server = _Counting(("127.0.0.1", 0), _handler(ref, keep_alive, idle_timeout_s))
    server.accepted = []
    server.daemon_threads = True
    ref.append(Hook(server))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return ref[0]


@pytest.fixture
def hook() -> Iterator[Hook]:
    opened = open_hook()
    yield opened
    opened.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here with openssl."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Mailbox:
    """A real SMTP server (aiosmtpd) that requires STARTTLS before it takes mail."""

    controller: Controller
    cert: Path
    messages: list[tuple[float, EmailMessage, bool]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def mails(self) -> list[EmailMessage]:
        return [m for _, m, _ in list(self.messages)]


class _Handler:
    def __init__(self, box: list[Mailbox]) -> None:
        self.box = box

    async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        tls = session.ssl is not None
        self.box[0].messages.append((time.time(), parsed, tls))
        return "250 OK"


def open_mailbox(directory: Path) -> Mailbox:
    """A running SMTP server requiring STARTTLS; `controller.stop()` it."""
    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ref: list[Mailbox] = []
    controller = Controller(
        _Handler(ref),
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        ready_timeout=10,
    )
    ref.append(Mailbox(controller, cert))
    controller.start()
    return ref[0]


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    opened = open_mailbox(tmp_path)
    yield opened
    opened.controller.stop()


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Whether `predicate()` came true within `timeout_s` (looked at every 20 ms)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def raise_fall(store: AlertStore, home: str, device: str = "pendant-1") -> int:
    """A fall alert raised in `store` as the rules engine raises one; its id."""
    return store.raise_or_update(**asdict(fall_request(home, 1764000000, device))).alert.id


def open_store(directory: Path, *telecare: str) -> tuple[str, AlertStore]:
    """A migrated SQLite alert store in `directory` (its URL, and the store), with the homes named
    in `telecare` registered as having telecare."""
    url = f"sqlite:///{directory / 'alerts.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    homes = [HomeIn(id=h, reference=h, address=f"{h} Road", telecare=True) for h in telecare]
    if homes:
        upsert_homes(engine, homes)
    return url, AlertStore(engine)


def raise_offline(store: AlertStore, home: str, at: dt.datetime | None = None) -> int:
    """A pendant gone quiet: a device-offline alert raised (or reopened) in `store`; its id."""
    return store.raise_or_update(
        home=home,
        rule="device_offline",
        rule_version=1,
        category="device_offline",
        audience="responder",
        severity="severe",
        summary="The pendant has not been heard from for 2 hours.",
        evidence={"device": "pendant-1"},
        at=at,
    ).alert.id


@contextlib.asynccontextmanager
async def running_notifier(
    url: str,
    config: NotifyConfig,
    settings: NotifySettings,
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> AsyncIterator[Notifier]:
    """A notifier on the store at `url` with one channel, the webhook, running until the block
    ends (then stopped, its channel closed and its engine disposed)."""
    channel = WebhookChannel(b"k", timeout_s=2)
    notifier = Notifier(
        settings,
        config,
        {"webhook": channel},
        make_engine(url),
        ack_secret=b"s",
        public_url="http://127.0.0.1:1",
        clock=clock,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        yield notifier
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await channel.aclose()
        notifier.engine.dispose()
