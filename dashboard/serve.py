"""Run the dashboard under uvicorn on a socket we bind ourselves (port 0 picks a free one)."""

from __future__ import annotations

import socket
from types import FrameType
from typing import Any

import structlog
import uvicorn

from dashboard.app import create_app
from hof.metrics import register_endpoint
from hof.settings import Settings

__all__ = ["serve"]

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, telling open event streams to end when a stop is asked for: otherwise each
    open alert queue would hold the graceful shutdown for its whole timeout."""

    app_state: Any = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        ctx = getattr(self.app_state, "ctx", None)
        if ctx is not None:
            ctx.hub.stopping = True
        super().handle_exit(sig, frame)


def serve(settings: Settings) -> int:
    conf = settings.dashboard
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it a response's headers and body (two writes) wait on the client's delayed ACK:
    # 40 ms added to every small page or API answer.
    family = socket.AF_INET6 if ":" in conf.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((conf.host, conf.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    host = f"[{conf.host}]" if ":" in conf.host else conf.host
    url = f"http://{host}:{port}"
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_config=None,  # our structured logs, not uvicorn's
        access_log=False,
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
    server = _Server(config)
    server.app_state = app.state
    registration = register_endpoint(
        settings.state_dir, "dashboard", conf.client_id, url + "/metrics"
    )
    log.info("dashboard_listening", url=url)
    print(f"dashboard: {url}", flush=True)
    try:
        server.run(sockets=[sock])  # SIGTERM and Ctrl-C end it gracefully
    finally:
        registration.unlink(missing_ok=True)
        sock.close()
    return 0
