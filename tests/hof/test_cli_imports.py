"""Each service's command loads only what it runs: `hof ingest` never pays for another service.

Issue 14: every command imported the simulator and the dashboard (numpy, SQLAlchemy) to list
them, so an ingest worker started at 89 MB before it read a message.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from hofsupport import IngestProcess, wait_until

from hof.senml import Record, encode_pack
from hof.stack import Stack

# Top-level packages an ingest worker must never import.
NOT_FOR_INGEST = {
    "numpy",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "simulator",
    "dashboard",
    "alerts",
    "notify",
    "gateway",
}
PEAK_RSS_MIB = 60  # issue 14: per ingest worker, under load


def _imported_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running `code`."""
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_ingest_command_imports_no_other_service() -> None:
    """What `hof ingest` loads: the CLI's parser for that command, then the worker's module."""
    loaded = _imported_after(
        "from hof import cli\n"
        "args = cli.build_parser(['ingest']).parse_args(['ingest'])\n"
        "assert args.handler is cli._cmd_ingest\n"
        "import ingest.service\n"
    )
    assert "ingest" in loaded
    assert loaded & NOT_FOR_INGEST == set()


def test_listing_the_commands_imports_none_of_them() -> None:
    loaded = _imported_after(
        "from hof import cli\n"
        "names = cli.build_parser(['config'])._subparsers._group_actions[0].choices\n"
        "assert {'simulate', 'dashboard', 'rights', 'provision', 'firmware'} <= set(names)\n"
    )
    assert loaded & (NOT_FOR_INGEST | {"ingest", "cryptography"}) == set()


def test_a_provided_command_still_gets_its_arguments() -> None:
    from hof import cli

    args = cli.build_parser(["simulate", "--homes", "3"]).parse_args(["simulate", "--homes", "3"])
    assert args.homes == 3


class _ProfiledIngest(IngestProcess):
    """`hof ingest` with Python's import log on (PYTHONPROFILEIMPORTTIME: to its log)."""

    defaults: ClassVar[dict[str, str]] = {
        **IngestProcess.defaults,
        "PYTHONPROFILEIMPORTTIME": "1",
        "HOF_LOG_LEVEL": "WARNING",
    }


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_running_ingest_worker_imports_no_other_service_and_stays_small(
    stack: Stack, device: Any, home_id: str
) -> None:
    """A real worker, through its first batches: its whole import log, and its peak RSS."""
    worker = _ProfiledIngest(stack.settings.state_dir, f"imports-{home_id}")
    worker.start()
    try:
        env = device("env-1")
        base_ms = int((time.time() - 3 * 86_400) * 1000)  # 2,000 minutes of readings
        packs = 200
        for p in range(packs):
            records = [
                Record(home_id, "env-1", name, base_ms + (p * 10 + k) * 60_000, value, unit)
                for k in range(10)
                for name, value, unit in (("temperature", 19.5, "Cel"), ("humidity", 55.0, "%RH"))
            ]
            env.publish("reading", encode_pack("env-1", records))
        assert wait_until(
            lambda: worker.metrics().get("hof_ingest_points_written_total", 0) >= packs * 10, 60
        ), worker.log_tail()
        assert worker.proc is not None
        peak = _peak_rss_mib(worker.proc.pid)
    finally:
        worker.stop()
    imported = {
        line.split("|")[-1].strip().partition(".")[0]
        for line in worker.log_path.read_text().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "ingest" in imported
    assert imported & NOT_FOR_INGEST == set()
    assert peak <= PEAK_RSS_MIB, f"peak RSS {peak:.1f} MiB"
