"""Local telecare escalation: a command hook and/or a webhook, when the platform is out of reach.

It can start a local sounder, call a carer's phone gateway, or post to a responder's service
over another route (e.g. a mobile modem). It cannot know whether a person has answered: success
means the hook exited 0 or the webhook answered 2xx, and the device's notice says only that.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass

import httpx
import structlog

__all__ = ["Alert", "Escalation", "Outcome"]

log = structlog.get_logger(__name__)

ALERTING = {"fall": "detected", "button": "pressed"}


@dataclass(frozen=True, slots=True)
class Alert:
    """A fall or a help call that may need local escalation."""

    home: str
    device: str
    name: str
    time_ms: int
    value: str

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
    """Which routes took the alert; `reached` when any did."""

    via: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def reached(self) -> bool:
        return bool(self.via)


class Escalation:
    """The configured local routes; each is tried once, with a timeout, independently."""

    def __init__(self, command: list[str] | None, webhook: str | None, timeout_s: float) -> None:
        self.command = command
        self.webhook = webhook
        self.timeout_s = timeout_s

    @property
    def configured(self) -> bool:
        return bool(self.command or self.webhook)

    async def escalate(self, alert: Alert) -> Outcome:
        routes: list[tuple[str, asyncio.Task[bool]]] = []
        async with asyncio.TaskGroup() as tg:
            if self.command:
                routes.append(("command", tg.create_task(self._run_command(alert))))
            if self.webhook:
                routes.append(("webhook", tg.create_task(self._post(alert))))
        via = tuple(name for name, task in routes if task.result())
        failed = tuple(name for name, task in routes if not task.result())
        log.warning(
            "telecare_escalated_locally",
            device=alert.device,
            alert=alert.name,
            via=list(via),
            failed=list(failed),
        )
        return Outcome(via, failed)

    async def _run_command(self, alert: Alert) -> bool:
        assert self.command
        body = json.dumps(alert.body()).encode()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOF_ALERT": alert.name,
            "HOF_HOME": alert.home,
            "HOF_DEVICE": alert.device,
            "HOF_VALUE": alert.value,
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
            await asyncio.wait_for(proc.communicate(body), self.timeout_s)
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
