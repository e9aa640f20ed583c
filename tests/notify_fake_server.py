"""A local server that speaks GOV.UK Notify's documented API, for tests (no Notify account here).

Followed, from alphagov/notifications-tech-docs (source/documentation/_api_docs.md,
_callbacks.md, _testing.md) and alphagov/notifications-api (app/authentication/auth.py,
app/celery/research_mode_tasks.py):

- the bearer token is an HS256 JWT signed with the secret from the API key
  `{key_name}-{service_id}-{secret}`, with `iss` the service id and `iat` within 30 seconds
  of now either way; errors are 401 without a bearer token and 403 `AuthError` otherwise;
- POST /v2/notifications/sms and /email answer 201 with `id, reference, content, uri,
  template, scheduled_for`; errors are `{"status_code": N, "errors": [{"error", "message"}]}`;
- GET /v2/notifications/{id} answers the notification with its status;
- a test key never delivers: the message goes to `sending`, then, as Notify's research mode
  does, to `permanent-failure` for 07700900002 or perm-fail@simulator.notify,
  `temporary-failure` for 07700900003 or temp-fail@simulator.notify, else `delivered`;
- a delivery receipt (`id, reference, to, status, created_at, completed_at, sent_at,
  notification_type`) is POSTed to the delivery callback URL with `Authorization: Bearer
  <callback token>`; `inbound_sms` POSTs a received text (`id, source_number,
  destination_number, message, date_received`) to the inbound callback URL.

Not modelled: rate limits (unless injected with `fail_next`), letters, templates by API,
callback retries (Notify retries every 5 minutes; here a failed callback is only recorded).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt

__all__ = ["FakeNotify", "Template", "notify_api_key"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TEMP_FAIL = "7700900003"  # Notify's research-mode numbers (app/celery/research_mode_tasks.py)
PERM_FAIL = "7700900002"
PERM_FAIL_EMAIL = "perm-fail@simulator.notify"
TEMP_FAIL_EMAIL = "temp-fail@simulator.notify"
JWT_BOUND_S = 30


def notify_api_key(name: str, service_id: str, secret: str) -> str:
    return f"{name}-{service_id}-{secret}"


def _stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Template:
    id: str
    type: str  # "sms" or "email"
    body: str  # with ((placeholders))
    subject: str = ""
    version: int = 1

    def placeholders(self) -> list[str]:
        return list(dict.fromkeys(re.findall(r"\(\(([^)]+)\)\)", self.subject + self.body)))

    def render(self, text: str, values: dict[str, str]) -> str:
        return re.sub(r"\(\(([^)]+)\)\)", lambda m: str(values[m.group(1)]), text)


@dataclass
class Notification:
    id: str
    type: str
    to: str
    reference: str | None
    template: Template
    body: str
    subject: str
    created_at: dt.datetime
    status: str = "created"
    sent_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None


class _ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        self.status, self.error, self.message = status, error, message


@dataclass
class FakeNotify:
    """A GOV.UK Notify stand-in on 127.0.0.1; `start()` it, `stop()` it."""

    service_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secret: str = field(default_factory=lambda: str(uuid.uuid4()))
    callback_url: str | None = None  # delivery receipts
    callback_token: str = "callback-token-0123456789"
    inbound_url: str | None = None  # received text messages
    inbound_token: str = "inbound-token-0123456789"
    inbound_number: str = "07700987654"
    receipt_delay_s: float = 0.05
    templates: dict[str, Template] = field(default_factory=dict)
    notifications: dict[str, Notification] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    callbacks: list[tuple[str, dict[str, Any], int | str]] = field(default_factory=list)
    _failures: list[tuple[int, str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _timers: list[threading.Timer] = field(default_factory=list)

    @property
    def api_key(self) -> str:
        return notify_api_key("hof_test", self.service_id, self.secret)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_template(self, type_: str, body: str, subject: str = "") -> Template:
        template = Template(str(uuid.uuid4()), type_, body, subject)
        self.templates[template.id] = template
        return template

    def fail_next(self, status: int, error: str, message: str) -> None:
        """The next send answers this error (Notify's outage, rate limit, ...)."""
        self._failures.append((status, error, message))

    def start(self) -> FakeNotify:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_GET(self) -> None:
                fake._handle(self, "GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the API ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            self._authenticate(handler.headers.get("Authorization"))
            if method == "POST" and path in ("/v2/notifications/sms", "/v2/notifications/email"):
                status, body = 201, self._send(path.rsplit("/", 1)[1], raw)
            elif method == "GET" and path.startswith("/v2/notifications/"):
                status, body = 200, self._get(path.rsplit("/", 1)[1])
            else:
                raise _ApiError(404, "ResourceNotFound", "The requested URL was not found")
        except _ApiError as exc:
            status = exc.status
            body = {
                "status_code": exc.status,
                "errors": [{"error": exc.error, "message": exc.message}],
            }
        data = json.dumps(body).encode()
        with self._lock:
            self.requests.append((method, path, status))
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _authenticate(self, header: str | None) -> None:
        # As app/authentication/auth.py: scheme, issuer, signature, then iat within 30 s.
        if not header:
            raise _ApiError(401, "AuthError", "Unauthorized, authentication token must be provided")
        if header[:7].title() != "Bearer ":
            raise _ApiError(
                401, "AuthError", "Unauthorized, authentication bearer scheme must be used"
            )
        token = header[7:]
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _ApiError(
                403, "AuthError", "Invalid token: signature, api token is not valid"
            ) from exc
        if "iss" not in unverified:
            raise _ApiError(403, "AuthError", "Invalid token: iss field not provided")
        if unverified["iss"] != self.service_id:
            raise _ApiError(403, "AuthError", "Invalid token: service not found")
        try:
            header_fields = jwt.get_unverified_header(token)
            if header_fields.get("alg") != "HS256":
                raise _ApiError(403, "AuthError", "Invalid token: algorithm used is not HS256")
            claims = jwt.decode(
                token,
                key=self.secret,
                algorithms=["HS256"],
                options={"verify_iat": False, "verify_exp": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as exc:
            raise _ApiError(
                403, "AuthError", "Invalid token: signature, api token is not valid"
            ) from exc
        if "iat" not in claims:
            raise _ApiError(403, "AuthError", "Invalid token: iat field not provided")
        now = int(time.time())
        iat = int(claims["iat"])
        if now > iat + JWT_BOUND_S or iat > now + JWT_BOUND_S:
            raise _ApiError(
                403,
                "AuthError",
                "Error: Your system clock must be accurate to within 30 seconds",
            )

    def _send(self, kind: str, raw: bytes) -> dict[str, Any]:
        if self._failures:
            status, error, message = self._failures.pop(0)
            raise _ApiError(status, error, message)
        try:
            request = json.loads(raw)
        except ValueError as exc:
            raise _ApiError(400, "BadRequestError", "Invalid JSON supplied in POST data") from exc
        if not isinstance(request, dict):
            raise _ApiError(400, "ValidationError", "POST data is not a JSON object")
        to_field = "phone_number" if kind == "sms" else "email_address"
        for needed in (to_field, "template_id"):
            if not request.get(needed):
                raise _ApiError(400, "ValidationError", f"{needed} is a required property")
        to = str(request[to_field])
        if kind == "sms" and not re.fullmatch(r"(\+|00)?(44)?0?7\d{9}", to.replace(" ", "")):
            raise _ApiError(400, "ValidationError", "phone_number Not a UK mobile number")
        if kind == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", to):
            raise _ApiError(400, "ValidationError", "email_address Not a valid email address")
        if not _UUID.match(str(request["template_id"])):
            raise _ApiError(400, "ValidationError", "template_id is not a valid UUID")
        template = self.templates.get(str(request["template_id"]))
        if template is None or template.type != kind:
            raise _ApiError(400, "BadRequestError", "Template not found")
        values = request.get("personalisation") or {}
        missing = [p for p in template.placeholders() if p not in values]
        if missing:
            raise _ApiError(
                400, "BadRequestError", f"Missing personalisation: {', '.join(missing)}"
            )
        now = dt.datetime.now(dt.UTC)
        note = Notification(
            id=str(uuid.uuid4()),
            type=kind,
            to=to,
            reference=request.get("reference"),
            template=template,
            body=template.render(template.body, values),
            subject=template.render(template.subject, values),
            created_at=now,
        )
        with self._lock:
            self.notifications[note.id] = note
        self._later(self.receipt_delay_s / 2, self._sending, note)
        content: dict[str, Any] = {"body": note.body}
        if kind == "sms":
            content["from_number"] = "GOVUK"
        else:
            content["subject"] = note.subject
            content["from_email"] = "hof.service@notifications.service.gov.uk"
        return {
            "id": note.id,
            "reference": note.reference,
            "content": content,
            "uri": f"{self.base_url}/v2/notifications/{note.id}",
            "template": {
                "id": template.id,
                "version": template.version,
                "uri": f"{self.base_url}/v2/template/{template.id}/version/{template.version}",
            },
            "scheduled_for": None,
        }

    def _get(self, notification_id: str) -> dict[str, Any]:
        if not _UUID.match(notification_id):
            raise _ApiError(400, "ValidationError", "notification_id is not a valid UUID")
        note = self.notifications.get(notification_id)
        if note is None:
            raise _ApiError(404, "NoResultFound", "No result found")
        out: dict[str, Any] = {
            "id": note.id,
            "reference": note.reference,
            "type": note.type,
            "status": note.status,
            "template": {
                "id": note.template.id,
                "version": note.template.version,
                "uri": f"/v2/template/{note.template.id}/{note.template.version}",
            },
            "body": note.body,
            "created_at": _stamp(note.created_at),
            "created_by_name": None,
            "sent_at": _stamp(note.sent_at) if note.sent_at else None,
            "completed_at": _stamp(note.completed_at) if note.completed_at else None,
        }
        if note.type == "sms":
            out["phone_number"] = note.to
        else:
            out["email_address"] = note.to
            out["subject"] = note.subject
        return out

    # -- research mode and callbacks -------------------------------------------------------

    def _later(self, delay_s: float, fn: Any, *args: Any) -> None:
        timer = threading.Timer(delay_s, fn, args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _sending(self, note: Notification) -> None:
        with self._lock:
            note.status = "sending"
            note.sent_at = dt.datetime.now(dt.UTC)
        self._later(self.receipt_delay_s / 2, self._complete, note)

    def _complete(self, note: Notification) -> None:
        digits = re.sub(r"\D", "", note.to)
        if digits.endswith(PERM_FAIL) or note.to == PERM_FAIL_EMAIL:
            status = "permanent-failure"
        elif digits.endswith(TEMP_FAIL) or note.to == TEMP_FAIL_EMAIL:
            status = "temporary-failure"
        else:
            status = "delivered"
        with self._lock:
            note.status = status
            note.completed_at = dt.datetime.now(dt.UTC)
        if self.callback_url:
            self._post(
                self.callback_url,
                self.callback_token,
                {
                    "id": note.id,
                    "reference": note.reference,
                    "to": note.to,
                    "status": note.status,
                    "created_at": _stamp(note.created_at),
                    "completed_at": _stamp(note.completed_at),
                    "sent_at": _stamp(note.sent_at) if note.sent_at else None,
                    "notification_type": note.type,
                },
            )

    def inbound_sms(self, source_number: str, message: str) -> int | str:
        """A text received on the service's number, forwarded to the inbound callback now."""
        assert self.inbound_url, "no inbound callback URL configured"
        return self._post(
            self.inbound_url,
            self.inbound_token,
            {
                "id": str(uuid.uuid4()),
                "source_number": source_number,
                "destination_number": self.inbound_number,
                "message": message,
                "date_received": _stamp(dt.datetime.now(dt.UTC)),
            },
        )

    def _post(self, url: str, token: str, payload: dict[str, Any]) -> int | str:
        try:
            response = httpx.post(
                url, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=5.0
            )
            outcome: int | str = response.status_code
        except httpx.HTTPError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.callbacks.append((url, payload, outcome))
        return outcome

    def wait_for_callbacks(self, count: int, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.callbacks) >= count:
                    return True
            time.sleep(0.01)
        return False
