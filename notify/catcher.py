"""A local catcher for the demo: an SMTP server (STARTTLS, a self-signed certificate) and a
webhook receiver that write what they receive to files, so a person can read the messages.

    python -m notify.catcher --dir var/notify --smtp-port 2525 --http-port 8091

Mail goes to DIR/mail/*.eml, webhook bodies to DIR/webhook/*.json. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["main"]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", text)[:60]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), reused while it exists."""
    cert, key = directory / "catcher-cert.pem", directory / "catcher-key.pem"
    if not (cert.exists() and key.exists()):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        key.chmod(0o600)
    return cert, key


class _Mail:
    def __init__(self, out: Path) -> None:
        self.out = out

    async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        to = _safe(",".join(envelope.rcpt_tos))
        path = self.out / f"{time.strftime('%H%M%S')}-{time.time_ns() % 10**6:06d}-{to}.eml"
        path.write_bytes(envelope.original_content or b"")
        return "250 OK"


def _hook(out: Path) -> type[BaseHTTPRequestHandler]:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                data: dict[str, Any] = json.loads(body)
            except ValueError:
                data = {"raw": body.decode(errors="replace")}
            name = _safe(f"{data.get('home', 'x')}-{data.get('kind', '')}-{self.path}")
            stamp = f"{time.strftime('%H%M%S')}-{time.time_ns() % 10**6:06d}"
            record = {"path": self.path, "headers": dict(self.headers), "body": data}
            (out / f"{stamp}-{name}.json").write_text(json.dumps(record, indent=2))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Hook


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args()
    mail, hooks = args.dir / "mail", args.dir / "webhook"
    for directory in (mail, hooks):
        directory.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(args.dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    smtp = Controller(
        _Mail(mail),
        hostname="127.0.0.1",
        port=args.smtp_port,
        tls_context=context,
        require_starttls=True,
    )
    smtp.start()
    server = ThreadingHTTPServer(("127.0.0.1", args.http_port), _hook(hooks))
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        smtp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
