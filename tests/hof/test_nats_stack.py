"""The NATS cluster's generated config, and the settings that select the clustered broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from hof.errors import ConfigError
from hof.settings import load_settings
from hof.stack.nats import NatsCluster, render_config


def test_each_node_routes_to_the_others_and_keeps_its_store_beside_its_config(
    tmp_path: Path,
) -> None:
    cluster = NatsCluster(tmp_path, size=3, passwords={"platform": "p", "devices": "d", "sys": "s"})
    first, *others = cluster.nodes
    text = render_config(
        first, cluster.nodes, host="127.0.0.1", passwords=cluster.passwords, replicas=3
    )
    for node in others:
        assert f"nats-route://127.0.0.1:{node.cluster_port}" in text
    assert f"nats-route://127.0.0.1:{first.cluster_port}" not in text
    assert f'listen: "127.0.0.1:{first.mqtt_port}"' in text
    assert 'store_dir: "jetstream"' in text  # relative: the node runs in its own directory
    assert "stream_replicas: 3" in text
    assert len({p for n in cluster.nodes for p in (n.client_port, n.mqtt_port)}) == 6


def test_production_refuses_a_placeholder_nats_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOF_ENVIRONMENT", "production")
    monkeypatch.setenv("HOF_MQTT__TLS", "true")
    monkeypatch.setenv("HOF_MQTT__PORT", "8883")
    monkeypatch.setenv("HOF_DEVICES__TLS", "true")
    monkeypatch.setenv("HOF_NATS__BROKER", "nats")
    monkeypatch.setenv("HOF_NATS__PASSWORD", "changeme")
    with pytest.raises(ConfigError, match=r"nats\.password is a placeholder"):
        load_settings()
    monkeypatch.setenv("HOF_NATS__PASSWORD", "a-real-long-secret")
    assert load_settings().nats.broker == "nats"
