"""Service metrics: counters and gauges with labels, Prometheus text format, a /metrics server."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hof.waiting import within

__all__ = [
    "Metric",
    "Registry",
    "parse_text",
    "register_endpoint",
    "registered_endpoints",
    "serve_metrics",
]

Labels = tuple[tuple[str, str], ...]


@dataclass
class Metric:
    """One counter or gauge family; values keyed by their label set."""

    name: str
    help: str
    kind: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] = value

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def total(self) -> float:
        return sum(self.values.values())


class Registry:
    """The metrics of one process (one registry per service instance, no globals)."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        # Gauges read at scrape time (queue depths), so that nothing polls in the background.
        self.collectors: list[Callable[[], None]] = []

    def counter(self, name: str, help: str) -> Metric:
        return self._metrics.setdefault(name, Metric(name, help, "counter"))

    def gauge(self, name: str, help: str) -> Metric:
        return self._metrics.setdefault(name, Metric(name, help, "gauge"))

    def render(self) -> str:
        """The Prometheus text exposition format, version 0.0.4."""
        for collect in self.collectors:
            collect()
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.append(f"# HELP {metric.name} {metric.help}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            for labels, value in sorted(metric.values.items()):
                lines.append(f"{metric.name}{_labels(labels)} {value!r}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_text(text: str) -> dict[str, dict[Labels, float]]:
    """Parse Prometheus text into {name: {labels: value}} (for `hof status`)."""
    out: dict[str, dict[Labels, float]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or line.startswith("#"):
            continue
        name, _, inner, value = match.groups()
        labels = tuple(sorted(_LABEL.findall(inner or "")))
        try:
            out.setdefault(name, {})[labels] = float(value)
        except ValueError:
            continue
    return out


async def serve_metrics(registry: Registry, host: str, port: int) -> asyncio.Server:
    """Serve GET /metrics; the caller owns the server and closes it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await within(reader.readuntil(b"\r\n\r\n"), 5.0)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path == b"/metrics":
                body, status = registry.render().encode(), b"200 OK"
            else:
                body, status = b"not found\n", b"404 Not Found"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


def register_endpoint(state_dir: Path, service: str, instance: str, url: str) -> Path:
    """Record where a running service serves its metrics, so `hof status` can find it."""
    run = state_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    path = run / f"{service}-{instance}.json"
    path.write_text(
        json.dumps({"service": service, "instance": instance, "url": url, "pid": os.getpid()})
    )
    return path


def registered_endpoints(state_dir: Path) -> Iterable[dict[str, str]]:
    """The services that registered themselves and whose process is still alive."""
    for path in sorted((state_dir / "run").glob("*.json")):
        try:
            entry = json.loads(path.read_text())
            os.kill(int(entry["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        yield {k: str(v) for k, v in entry.items()}
