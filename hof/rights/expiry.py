"""Retention on its own: `hof rights expire` once or every N seconds, recording each run in
STATE_DIR/run/rights-expiry.json for `hof status`."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.engine import Engine

from hof.settings import Settings
from hof.waiting import within

__all__ = ["last_run", "run_expiry", "status_path"]

log = structlog.get_logger(__name__)


def status_path(state_dir: Path) -> Path:
    return state_dir / "run" / "rights-expiry.json"


def last_run(state_dir: Path) -> dict[str, Any] | None:
    """The last retention run's report, or None when none has run here."""
    try:
        data = json.loads(status_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _record(state_dir: Path, report: dict[str, Any]) -> None:
    path = status_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(report))
    os.replace(partial, path)


async def _loop(
    settings: Settings, engine: Engine, every: float | None, stop: asyncio.Event
) -> None:
    from hof.rights.operations import expire

    while True:
        try:
            report = (await expire(settings, engine)).as_dict()
            report["ok"] = True
        except Exception as exc:  # a failed run is reported and retried at the next
            log.exception("retention_failed")
            report = {"ok": False, "at": time.time(), "error": f"{type(exc).__name__}: {exc}"[:300]}
            if every is None:
                _record(settings.state_dir, report)
                raise
        report["every_s"] = every
        _record(settings.state_dir, report)
        if every is None:
            print(json.dumps(report, indent=2))
            return
        try:
            await within(stop.wait(), every)
            return
        except TimeoutError:
            continue


def run_expiry(settings: Settings, engine: Engine, *, every: float | None) -> int:
    from hof.cli import run_until_signalled

    return run_until_signalled(lambda stop: _loop(settings, engine, every, stop))
