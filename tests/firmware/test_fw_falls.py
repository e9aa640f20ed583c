"""Fall detection on the synthetic trace set (bench/firmware_traces.py), on MicroPython, with
the sampling step under heap_lock: clear falls are caught, everyday activity never alarms."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fw_support import MICROPYTHON, REPO

from bench.firmware_traces import write_set


def test_sensitivity_and_false_alarms_on_the_trace_set(tmp_path: Path) -> None:
    traces = write_set(tmp_path)
    done = subprocess.run(
        [
            MICROPYTHON,
            str(REPO / "bench" / "firmware_falleval_mp.py"),
            str(tmp_path / "manifest.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # a MemoryError: the loop allocated
    lines = done.stdout.splitlines()
    summary = json.loads(lines[-1])
    found = {info.name: int(line.split()[-1]) for info, line in zip(traces, lines, strict=False)}
    kinds = {info.name: info.kind for info in traces}
    for name, count in found.items():
        if kinds[name] in ("forward", "backward", "sideways"):
            assert count == 1, f"{name}: a clear fall must alarm exactly once"
        if kinds[name] in ("slow-collapse", "soft-landing"):
            assert count <= 1
    assert summary["false_alarms"] == 0, [n for n, c in found.items() if c and "-" in n]
    assert summary["sensitivity"] >= 0.8
    assert summary["adl_hours"] > 1.0


def test_thresholds_are_configurable(tmp_path: Path) -> None:
    """A stricter impact threshold (7.5 g) misses most falls: the config reaches the detector."""
    write_set(tmp_path)
    done = subprocess.run(
        [
            MICROPYTHON,
            str(REPO / "bench" / "firmware_falleval_mp.py"),
            str(tmp_path / "manifest.json"),
            json.dumps({"impact_g": 7.5}),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1])["sensitivity"] < 0.2
