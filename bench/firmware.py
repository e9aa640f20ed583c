"""Firmware figures on the MicroPython Unix port: fall detection on the synthetic trace set,
heap after boot and in steady state, bytes per publish, time awake per cycle.

    .venv/bin/python bench/firmware.py

Starts a private Mosquitto (and InfluxDB, as the stack does) in a temporary directory; runs
the real firmware (`firmware/main.py` on `micropython`) against it, reading its log lines.
Heap figures are the Unix port's (a 2 MiB heap by default): what matters is the difference
between boot and steady state (no growth) and the allocation-free sampling step.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.firmware_traces import write_set  # noqa: E402
from hof.provision import provision  # noqa: E402
from hof.settings import Settings  # noqa: E402
from hof.stack import Stack  # noqa: E402

MICROPYTHON = str(Path(sys.executable).parent / "micropython")


def falls(tmp: Path) -> None:
    traces = write_set(tmp / "traces")
    out = subprocess.run(
        [
            MICROPYTHON,
            str(REPO / "bench" / "firmware_falleval_mp.py"),
            str(tmp / "traces" / "manifest.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    summary = json.loads(out[-1])
    per_kind: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for line, info in zip(out[:-1], traces, strict=True):
        per_kind[f"{info.label} {info.kind}"] += 1
        hits[f"{info.label} {info.kind}"] += int(line.split()[-1]) > 0
    print("== fall detection (firmware/fall.py on micropython, sampling under heap_lock)")
    for key in sorted(per_kind):
        print(f"  {key:22} {hits[key]:3d}/{per_kind[key]:<3d} traces alarmed")
    print(
        f"  sensitivity {summary['detected']}/{summary['falls']} = {summary['sensitivity']:.0%};"
        f" false alarms {summary['false_alarms']} in {summary['adl_hours']:.2f} h of activities"
        f" ({summary['false_alarms_per_hour']:.2f}/h)"
    )


def run_node(
    settings: Settings,
    tmp: Path,
    name: str,
    kind: str,
    world: dict[str, object],
    seconds: float,
    **cfg: object,
) -> list[str]:
    work = tmp / name
    work.mkdir()
    made = provision(
        settings,
        home="BENCH-1",
        kind=kind,
        out=work / "config.json",
        interval_s=float(str(cfg.pop("interval_s", 1))),
        power=str(cfg.pop("power", "mains")),
    )
    data = json.loads(made.config_path.read_text())
    data.update(cfg)
    made.config_path.write_text(json.dumps(data))
    (work / "sim.json").write_text(json.dumps(world))
    env = {
        **os.environ,
        "HOF_FW_CONFIG": str(made.config_path),
        "HOF_FW_SIM": str(work / "sim.json"),
        "HOF_FW_STATE": str(work),
    }
    proc = subprocess.Popen(
        [MICROPYTHON, str(REPO / "firmware" / "main.py")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds)
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return out.splitlines()


def field(lines: list[str], prefix: str, key: str) -> list[int]:
    return [
        int(m[1])
        for ln in lines
        if ln.startswith(prefix) and (m := re.search(rf"\b{key}=(\d+)", ln))
    ]


def nodes(tmp: Path) -> None:
    stack = Stack(Settings(environment="test", state_dir=tmp / "state"))
    stack.up()
    try:
        settings = Settings(environment="test", state_dir=tmp / "state", **stack.info.settings())
        world: dict[str, object] = {"sht4x": {}, "surface": {}, "scd4x": {}}
        lines = run_node(settings, tmp, "mains", "env", world, 8.0)
        publishes = [
            int(m[1]) for ln in lines if (m := re.match(r"publish readings=\d+ bytes=(\d+)", ln))
        ]
        topic = len("hof/v1/BENCH-1/env-xxxxxx/reading")
        print("== environmental node, mains (SHT4x + surface probe + SCD4x), 1 s interval")
        print(f"  heap free after boot     {field(lines, 'boot', 'heap_free')[0]:>8d} B")
        steady = field(lines, "cycle", "heap_free")
        print(
            f"  heap free, steady state  {min(steady[2:]):>8d}..{max(steady[2:])} B"
            f" over {len(steady) - 2} cycles"
        )
        print(
            f"  SenML payload / publish  {statistics.median(publishes):>8.0f} B"
            " (one reading; CO2 is new every 5 s)"
        )
        wire = statistics.median(publishes) + 2 + 2 + topic + 2 + 2
        print(f"  MQTT PUBLISH on the wire {wire:>8.0f} B (+ a 4-byte PUBACK back)")

        lines = run_node(
            settings, tmp, "battery", "env", {"sht4x": {}}, 9.0, interval_s=2, power="battery"
        )
        awake = field(lines, "cycle", "awake_ms")
        print("== environmental node, battery (SHT4x), deep sleep between readings")
        print(
            f"  awake per cycle          {statistics.median(awake):>8.0f} ms"
            f" median of {len(awake)} wakes"
            " (connect, SUBACK and retained config, publish, PUBACK); + 5 s with an SCD41"
        )
        publishes = [
            int(m[1]) for ln in lines if (m := re.match(r"publish readings=\d+ bytes=(\d+)", ln))
        ]
        print(
            f"  SenML payload / publish  {statistics.median(publishes):>8.0f} B"
            " (temperature, humidity, voltage)"
        )

        world = {"adxl345": {}, "inputs": {"button": [[3, 3.3]], "pir": [[1, 2], [4, 5]]}}
        lines = run_node(
            settings, tmp, "telecare", "telecare", world, 10.0, report_every=100, motion_summary_s=2
        )
        steady = field(lines, "steady", "heap_free")
        print("== telecare node (ADXL345 at 50 Hz)")
        print(f"  heap free after boot     {field(lines, 'boot', 'heap_free')[0]:>8d} B")
        print(
            f"  heap free, steady state  {min(steady[1:]):>8d}..{max(steady[1:])} B"
            f" over {len(steady) - 1} reports"
        )
        print(f"  loop overruns            {max(field(lines, 'steady', 'overruns')):>8d}")
        events = [int(m[1]) for ln in lines if (m := re.match(r"publish \w+ bytes=(\d+)", ln))]
        if events:
            print(f"  event payload / publish  {statistics.median(events):>8.0f} B")
    finally:
        stack.down()


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        falls(tmp)
        nodes(tmp)


if __name__ == "__main__":
    main()
