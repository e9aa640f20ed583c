"""`hof stack up|down|status`: the local stack from the command line."""

from __future__ import annotations

import argparse
import json
import signal
import time

from hof.errors import StackError
from hof.settings import Settings, endpoints_path
from hof.stack import Stack, StackInfo, stop_recorded
from hof.stack.process import pid_runs

__all__ = ["StopFlag", "describe", "recorded_running", "stack_command"]


class StopFlag:
    """Set by SIGTERM or Ctrl-C, so a foreground command can stop its children in order."""

    def __init__(self) -> None:
        self.set = False
        signal.signal(signal.SIGTERM, self._request)
        signal.signal(signal.SIGINT, self._request)

    def _request(self, signum: int, frame: object) -> None:
        self.set = True


def recorded_running(settings: Settings) -> list[str]:
    """The parts of a recorded stack in this state directory that are still running."""
    try:
        data = json.loads(endpoints_path(settings.state_dir).read_text())
    except (OSError, ValueError):
        return []
    markers = data.get("markers", {})
    return [
        name for name, pid in data.get("pids", {}).items() if pid_runs(pid, markers.get(name, "?"))
    ]


def describe(info: StackInfo, settings: Settings) -> str:
    return (
        f"  MQTT broker  mqtt://{info.mqtt_host}:{info.mqtt_port} for services, "
        f"mqtt://{info.mqtt_host}:{info.mqtt_device_port} for devices  (Mosquitto, pid "
        f"{info.pids.get('mosquitto')})\n"
        f"  InfluxDB     {info.influx_url}  database {info.database!r}  (pid "
        f"{info.pids.get('influxdb')})\n"
        f"  state, logs  {settings.state_dir.resolve() / 'stack'}\n"
        f"  credentials  {settings.state_dir.resolve() / 'stack' / 'credentials.json'} "
        "(owner-only; `hof` commands find them)"
    )


def stack_command(args: argparse.Namespace, settings: Settings) -> int:
    action = args.stack_command
    if action == "down":
        stopped = stop_recorded(settings.state_dir)
        print(f"stopped: {', '.join(stopped)}" if stopped else "no recorded stack was running")
        return 0
    if action == "nats-stream":
        import asyncio

        from hof.stack.nats import make_mqtt_stream

        found = asyncio.run(make_mqtt_stream(settings.nats))
        print(
            {
                "made": "$MQTT_msgs made, with limits retention",
                "limits": "$MQTT_msgs was there already, with limits retention",
                "interest": "$MQTT_msgs was made by NATS with interest retention: a stream "
                "leader's loss can lose readings until it is remade (docs/scaling.md)",
            }[found]
        )
        return 1 if found == "interest" else 0
    running = recorded_running(settings)
    if action == "status":
        print(f"running: {', '.join(running)}" if running else "not running")
        return 0 if running else 1
    if running:
        raise StackError(
            f"a stack is already running from {settings.state_dir} ({', '.join(running)}); "
            "`hof stack down` stops it"
        )
    stack = Stack(settings)
    info = stack.up()
    print("stack is up:\n" + describe(info, settings), flush=True)
    if args.detach:
        print("`hof stack down` stops it.")
        return 0
    stop = StopFlag()  # before saying so: a Ctrl-C right after the line must stop us in order
    print("Ctrl-C stops it.", flush=True)
    try:
        while not stop.set:
            failed = stack.failed_part()
            if failed:
                print(f"{failed} stopped on its own; see its log under {stack.dir}")
                return 1
            time.sleep(0.5)
    finally:
        stack.down()
        print("stack stopped")
    return 0
