"""Loopback ports for parts we start: chosen now, bound later by the part's own process.

A port found by binding port 0 comes from the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range), the range every other process's port-0 bind and
outgoing connection draws from too: between our choosing it and the part binding it, any of
them may take it (CI: a NATS node's monitoring port, taken while ingest waited for the cluster,
"address already in use"). So the ports are chosen at random outside that range, where the
kernel never hands one out by itself, and checked free by binding them; `PortHold` keeps that
bind until just before the part starts, so that no other process choosing this way takes it.
"""

from __future__ import annotations

import random
import socket
import threading
import weakref
from pathlib import Path

from hof.errors import StackError

__all__ = ["PortHold", "ephemeral_range", "free_port"]

LOWEST_PORT = 10000  # below it: well-known and registered services' ports
_HIGHEST_PORT = 65535
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LINUX_DEFAULT_RANGE = (32768, 60999)
# Fewer ports than this outside the ephemeral range (a machine that widened it): port 0 then.
_ENOUGH_OUTSIDE = 1000
_TRIES = 200

# Not the `random` module's shared generator, which a test may seed: two test workers seeded
# alike would choose the same ports in the same order.
_random = random.SystemRandom()

# Ports this process has handed out. The kernel may give the port just closed to the next
# bind to port 0, so two calls in a row could name the same port for two listeners (CI: a
# Mosquitto whose device and platform listeners were both 42403, "Address already in use").
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for port-0 binds and outgoing connections (both ends included)."""
    try:
        low, high = (int(n) for n in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return _LINUX_DEFAULT_RANGE
    return low, high


def _outside_ephemeral() -> list[range]:
    """The ports from LOWEST_PORT up that the kernel never hands out by itself."""
    low, high = ephemeral_range()
    spans = [range(LOWEST_PORT, low), range(max(high + 1, LOWEST_PORT), _HIGHEST_PORT + 1)]
    return [span for span in spans if len(span) > 0]


def _pick(spans: list[range]) -> int:
    index = _random.randrange(sum(len(span) for span in spans))
    for span in spans:
        if index < len(span):
            return span[index]
        index -= len(span)
    raise AssertionError("unreachable")


def _bound(host: str, port: int) -> socket.socket | None:
    """A socket bound to `port` on `host` (not listening), or None if the port is in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    return sock


def _bind_unused(host: str) -> socket.socket:
    """A socket bound on `host` to a port outside the ephemeral range that this process has not
    handed out before (on a machine with no room outside the range, to one from port 0)."""
    spans = _outside_ephemeral()
    with _handed_out_lock:
        for _ in range(_TRIES):
            if sum(len(span) for span in spans) >= _ENOUGH_OUTSIDE:
                sock = _bound(host, _pick(spans))
            else:
                sock = _bound(host, 0)
            if sock is None:
                continue
            port = int(sock.getsockname()[1])
            if port in _handed_out:
                sock.close()
                continue
            _handed_out.add(port)
            return sock
    raise StackError(f"no free TCP port on {host} in {_TRIES} tries")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now, outside the ephemeral range, and not handed out
    before by this process: no other process's port-0 bind or connection can take it before our
    part binds it. One choosing ports as we do still may: callers that chose their own ports
    start again on new ones (`ManagedProcess.start_ready`), or hold them (`PortHold`)."""
    sock = _bind_unused(host)
    port = int(sock.getsockname()[1])
    sock.close()
    return port


class PortHold:
    """A port chosen as `free_port` does, kept bound (not listening: a connection to it is
    refused) until `release`, just before the part that listens on it starts."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        sock = _bind_unused(host)
        self.port = int(sock.getsockname()[1])
        # Closed when released, or when the hold is dropped unreleased (a part never started).
        self._close = weakref.finalize(self, sock.close)

    @property
    def held(self) -> bool:
        return self._close.alive

    def release(self) -> int:
        """Let the port go (again: nothing), for the part to bind it; returns it."""
        self._close()
        return self.port
