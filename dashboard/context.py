"""What every request handler needs: settings, the database, the alert store, InfluxDB, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy.engine import Engine

from hof.alertstore import AlertStore
from hof.influx import InfluxClient
from hof.metrics import Registry
from hof.settings import Settings

if TYPE_CHECKING:
    from dashboard.fleet import Fleet
    from dashboard.live import Hub

__all__ = ["Context", "context"]


@dataclass
class Context:
    settings: Settings
    store: AlertStore
    influx: InfluxClient
    metrics: Registry = field(default_factory=Registry)
    fleet: Fleet = field(default_factory=lambda: _fleet())
    hub: Hub = field(default_factory=lambda: _hub())

    @property
    def engine(self) -> Engine:
        return self.store.engine


def _fleet() -> Fleet:
    from dashboard.fleet import Fleet

    return Fleet()


def _hub() -> Hub:
    from dashboard.live import Hub

    return Hub()


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx
