"""What every request handler needs: settings, the database, the alert store, InfluxDB, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.engine import Engine

from hof.alertstore import AlertStore
from hof.influx import InfluxClient
from hof.metrics import Registry
from hof.settings import Settings

__all__ = ["Context", "context"]


@dataclass
class Context:
    settings: Settings
    store: AlertStore
    influx: InfluxClient
    metrics: Registry = field(default_factory=Registry)

    @property
    def engine(self) -> Engine:
        return self.store.engine


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx
