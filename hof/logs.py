"""Structured logging: one event a line, JSON in production and pipes, readable on a terminal."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import BinaryIO, Literal

# rich and pygments are development extras (pytest's and pip's), never a runtime dependency,
# yet structlog (its console tracebacks) and httpx (its command line) import them whenever
# they are installed: 4.5 MiB in every process, a worker's peak RSS over issue 14's 60 MB in
# the development venv. No hof process uses them: the console renderer below is given the
# plain traceback formatter, so a log reads the same whether or not they are installed. Marked
# unimportable before structlog is imported, unless something imported them first. So is
# httpx's command line (`httpx._main`, which httpx's package imports if it can, with click:
# 1 MiB more); httpx works without it, and a process that wants click still imports it.
for _extra in ("rich", "pygments", "httpx._main"):
    sys.modules.setdefault(_extra, None)  # type: ignore[arg-type]

import structlog  # noqa: E402

__all__ = ["configure_logging", "open_log_file"]


def configure_logging(
    level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto", **context: str
) -> None:
    """Route structlog and the standard library (paho, httpx) through one renderer on stderr."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO: one line a batch written would drown the useful lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**context)


def open_log_file(path: Path) -> BinaryIO:
    """Open a log file to append to, readable by its owner only (0600; a directory made for
    it 0700, an existing one left as it is).

    Logs name homes, devices and the people who act on alerts. A file left by an older
    version with wider permissions is narrowed.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise
