"""The local stack: real Mosquitto and InfluxDB as child processes, with our configs."""

from hof.stack.influxdb import InfluxDB
from hof.stack.mosquitto import Mosquitto
from hof.stack.ports import free_port
from hof.stack.process import ManagedProcess
from hof.stack.stack import Stack, StackInfo, stop_recorded

__all__ = [
    "InfluxDB",
    "ManagedProcess",
    "Mosquitto",
    "Stack",
    "StackInfo",
    "free_port",
    "stop_recorded",
]
