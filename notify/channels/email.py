"""Email channel: SMTP with STARTTLS (the landlord's relay), stdlib smtplib in a worker thread.

One connection per message: alerts are few, and a fresh connection cannot be a stale one. Its
threads are the channel's own: a relay that hangs until the timeout holds up no other part of
the process that works in threads (the notifier's store calls). The certificate is verified
(a private CA may be named, e.g. the tests' self-signed one); STARTTLS is required when
configured, never silently skipped.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from notify.channels.base import Delivery, DeliveryStatus, Message

__all__ = ["EmailChannel", "build_email"]

THREADS = 8  # messages being handed over at once; more wait their turn


def build_email(message: Message, sender: str, *, message_id: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.recipient.address
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id or make_msgid(domain="hof.invalid")
    mail["X-Hof-Alert"] = str(message.alert_id)
    mail["X-Hof-Idempotency-Key"] = message.idempotency_key
    lines = [message.text, ""]
    if message.ack_url:
        lines.append(f"Acknowledge: {message.ack_url}")
    if message.ack_code:
        lines.append(f"Or reply by text with {message.ack_code}.")
    mail.set_content("\n".join(lines) + "\n")
    return mail


class EmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls = starttls
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="smtp")

    def _send(self, message: Message, message_id: str) -> str:
        # Built here, not on the loop: a few ms of the email package's Python a message, which
        # the loop (the next fall's webhook) should not wait for.
        mail = build_email(message, self.sender, message_id=message_id)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(mail)
        return f"accepted by {self.host}:{self.port}"

    async def send(self, message: Message) -> Delivery:
        ref = make_msgid(domain="hof.invalid")
        try:
            loop = asyncio.get_running_loop()
            detail = await loop.run_in_executor(self._threads, self._send, message, ref)
        except smtplib.SMTPRecipientsRefused as exc:
            return Delivery(DeliveryStatus.FAILED, f"recipient refused: {exc.recipients}", ref)
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            return Delivery(
                DeliveryStatus.FAILED,
                f"{exc.smtp_code} {text}",
                ref,
                retryable=400 <= exc.smtp_code < 500,
            )
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            return Delivery(DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}", ref, True)
        return Delivery(DeliveryStatus.SENT, detail, ref)

    async def aclose(self) -> None:
        # A hand-over in progress ends at its own timeout; nothing waits for it here.
        self._threads.shutdown(wait=False, cancel_futures=True)
