"""Ports chosen now for parts started later (hof/stack/ports.py)."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from hof.settings import Settings
from hof.stack import Stack
from hof.stack.nats import NatsCluster
from hof.stack.ports import LOWEST_PORT, PortHold, ephemeral_range, free_port


def _outside_the_ephemeral_range(port: int) -> bool:
    low, high = ephemeral_range()
    return port >= LOWEST_PORT and not low <= port <= high


@pytest.fixture
def room_outside_the_range() -> None:
    low, high = ephemeral_range()
    if (low - LOWEST_PORT) + (65535 - max(high, LOWEST_PORT - 1)) < 1000:
        pytest.skip(f"this machine's ephemeral range {low}-{high} leaves no room outside it")


def _bind_error(port: int) -> int | None:
    """The errno of another process's bind to `port` on loopback (None: it could bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno
    return None


@pytest.mark.usefixtures("room_outside_the_range")
def test_ports_chosen_for_later_are_outside_the_kernels_ephemeral_range() -> None:
    """CI: a NATS node's monitoring port, chosen by binding port 0 and bound by the node seconds
    later, was taken meanwhile by another test worker's process ("address already in use").

    Every port-0 bind and outgoing connection on the machine draws from the ephemeral range;
    a port outside it is one only an explicit bind can take. The old `free_port` (a port-0
    bind) named ports inside the range every time.
    """
    ports = [free_port() for _ in range(200)] + [PortHold().release() for _ in range(50)]
    inside = [p for p in ports if not _outside_the_ephemeral_range(p)]
    assert not inside, f"inside {ephemeral_range()} or below {LOWEST_PORT}: {inside}"


@pytest.mark.usefixtures("room_outside_the_range")
def test_a_nats_clusters_ports_are_held_outside_the_range_until_its_nodes_start(
    tmp_path: Path,
) -> None:
    """The ports a client is pointed at before the cluster runs (ingest started first) are
    neither the kernel's to hand out nor another process's to bind, until the node starts."""
    cluster = NatsCluster(tmp_path / "nats", size=3)
    ports = [
        port
        for node in cluster.nodes
        for port in (node.client_port, node.cluster_port, node.mqtt_port, node.http_port)
    ]
    assert len(set(ports)) == 12
    assert all(_outside_the_ephemeral_range(p) for p in ports), ports
    try:
        assert {_bind_error(p) for p in ports} == {errno.EADDRINUSE}
        # Held, not listening: a client early to the cluster is refused, as by no listener.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((cluster.host, cluster.nodes[0].client_port), timeout=2.0)
    finally:
        cluster.stop()  # never started: lets the ports go
    assert {_bind_error(p) for p in ports} == {None}


@pytest.mark.usefixtures("room_outside_the_range")
def test_a_held_port_is_not_chosen_again_and_is_free_once_released() -> None:
    hold = PortHold()
    assert hold.held
    assert hold.port not in {free_port() for _ in range(200)}
    assert _bind_error(hold.port) == errno.EADDRINUSE
    assert hold.release() == hold.port
    assert not hold.held
    assert _bind_error(hold.port) is None
    hold.release()  # twice: nothing


@pytest.mark.usefixtures("room_outside_the_range")
def test_the_stacks_own_ports_are_outside_the_range(tmp_path: Path) -> None:
    """Mosquitto's and InfluxDB's ports left to us are chosen the same way."""
    stack = Stack(Settings(environment="test", state_dir=tmp_path / "state"))
    ports = [stack.broker.port, stack.broker.platform_port, stack.influx.port]
    ports.append(stack.influx.rpc_port)
    assert all(_outside_the_ephemeral_range(p) for p in ports), ports


def test_no_room_outside_the_range_falls_back_to_port_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A machine whose ephemeral range is (nearly) every port still gets free ports."""
    monkeypatch.setattr("hof.stack.ports.ephemeral_range", lambda: (1024, 65535))
    port = free_port()
    assert 1024 <= port <= 65535
    assert _bind_error(port) is None
