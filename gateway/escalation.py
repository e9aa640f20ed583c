"""Local telecare escalation: a command hook and/or a webhook, when the platform is out of reach.

It covers a fall, a help call (pendant or pull cord), smoke and a leak. It can start a local
sounder, call a carer's phone gateway, or post to a responder's service over another route
(e.g. a mobile modem). Each route is tried up to `attempts` times, backing off (doubling from
`backoff_s`, with jitter) between tries, each try bounded by `timeout_s`. It cannot know
whether a person has answered: success means the hook exited 0 or the webhook answered 2xx,
and the device's notice says only that.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import structlog

from hof.waiting import within

__all__ = ["ALERTING", "Alert", "Escalation", "Outcome", "is_alerting"]

log = structlog.get_logger(__name__)

# The events escalated locally, and the value that raises each (not a cancel, not "dry again").
ALERTING: dict[str, str | bool] = {
    "fall": "detected",
    "button": "pressed",
    "smoke": True,
    "leak": True,
}
MAX_BACKOFF_S = 30.0


def is_alerting(name: str, value: object) -> bool:
    """True for a record that calls for help: `fall`=`detected`, `button`=`pressed`,
    `smoke` or `leak` true (a boolean: a number 1 is not a SenML `vb`)."""
    wanted = ALERTING.get(name)
    return wanted is not None and type(value) is type(wanted) and value == wanted


@dataclass(frozen=True, slots=True)
class Alert:
    """A fall, a help call, smoke or a leak that may need local escalation."""

    home: str
    device: str
    name: str
    time_ms: int
    value: str | bool

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.device, self.name, self.time_ms)

    def body(self) -> dict[str, object]:
        return {
            "home": self.home,
            "device": self.device,
            "alert": self.name,
            "value": self.value,
            "time": self.time_ms / 1000,
            "reason": "platform unreachable",
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """Which routes took the alert; `reached` when any did; tries made per route."""

    via: tuple[str, ...]
    failed: tuple[str, ...]
    attempts: tuple[tuple[str, int], ...] = ()

    @property
    def reached(self) -> bool:
        return bool(self.via)


class Escalation:
    """The configured local routes, tried independently and at once, each retried."""

    def __init__(
        self,
        command: list[str] | None,
        webhook: str | None,
        timeout_s: float,
        attempts: int = 3,
        backoff_s: float = 1.0,
    ) -> None:
        self.command = command
        self.webhook = webhook
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s

    @property
    def configured(self) -> bool:
        return bool(self.command or self.webhook)

    async def escalate(self, alert: Alert) -> Outcome:
        routes: list[tuple[str, asyncio.Task[int]]] = []
        async with asyncio.TaskGroup() as tg:
            if self.command:
                routes.append(
                    ("command", tg.create_task(self._retry("command", self._run_command, alert)))
                )
            if self.webhook:
                routes.append(
                    ("webhook", tg.create_task(self._retry("webhook", self._post, alert)))
                )
        via = tuple(name for name, task in routes if task.result() > 0)
        failed = tuple(name for name, task in routes if task.result() < 0)
        attempts = tuple((name, abs(task.result())) for name, task in routes)
        log.warning(
            "telecare_escalated_locally",
            device=alert.device,
            alert=alert.name,
            via=list(via),
            failed=list(failed),
            attempts=dict(attempts),
        )
        return Outcome(via, failed, attempts)

    async def _retry(
        self, route: str, attempt: Callable[[Alert], Awaitable[bool]], alert: Alert
    ) -> int:
        """Try a route until it takes the alert: the tries it took, negative if it never did."""
        delay = self.backoff_s
        for n in range(1, self.attempts + 1):
            if await attempt(alert):
                return n
            if n < self.attempts:
                log.warning(
                    "escalation_retry", route=route, attempt=n, device=alert.device, in_s=delay
                )
                # Jitter: the routes of several alerts (or homes on one modem) do not retry in step.
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, MAX_BACKOFF_S)
        return -self.attempts

    async def _run_command(self, alert: Alert) -> bool:
        assert self.command
        body = json.dumps(alert.body()).encode()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOF_ALERT": alert.name,
            "HOF_HOME": alert.home,
            "HOF_DEVICE": alert.device,
            "HOF_VALUE": str(alert.value).lower() if isinstance(alert.value, bool) else alert.value,
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            log.error("escalation_command_failed", error=str(exc))
            return False
        try:
            await within(proc.communicate(body), self.timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.error("escalation_command_timeout", timeout_s=self.timeout_s)
            return False
        return proc.returncode == 0

    async def _post(self, alert: Alert) -> bool:
        assert self.webhook
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(self.webhook, json=alert.body())
        except httpx.HTTPError as exc:
            log.error("escalation_webhook_failed", error=str(exc))
            return False
        return response.is_success
