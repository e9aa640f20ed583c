"""hof.logs: what a worker's logging set-up costs it, and how it renders."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout + done.stderr


def test_an_ingest_worker_imports_no_rich_pygments_or_click() -> None:
    # Development extras that structlog and httpx import when installed (4.5 MiB a worker),
    # and click, which httpx's command line imports (1 MiB).
    out = _run(
        """
        import sys
        import hof.cli, ingest.service, hof.influx
        from hof.logs import configure_logging
        configure_logging("INFO", "console")
        extras = ("rich", "pygments", "click")
        print(sorted(m for m in extras if sys.modules.get(m) is not None))
        """
    )
    assert out.strip().splitlines()[-1] == "[]"


def test_httpx_still_works_and_click_can_still_be_imported() -> None:
    out = _run(
        """
        import hof.logs
        import httpx
        import click
        print(httpx.URL("http://127.0.0.1:8086/ping").path, click.__name__)
        """
    )
    assert out.strip().splitlines()[-1] == "/ping click"


def test_the_console_renders_an_exception_as_a_plain_traceback() -> None:
    out = _run(
        """
        import structlog
        from hof.logs import configure_logging
        configure_logging("INFO", "console", service="hof-test")
        try:
            1 / 0
        except ZeroDivisionError:
            structlog.get_logger("t").exception("failed", home="h1")
        """
    )
    for text in ("failed", "home", "service"):
        assert text in out
    assert "Traceback (most recent call last):" in out
    assert "ZeroDivisionError: division by zero" in out
