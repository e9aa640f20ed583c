"""The uplink over TLS with the home's own credential: certificate verified, data stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gw_support import *  # noqa: F403  (pytest fixtures, by name)
from gw_support import Home, count_stored, make_certificates, until

from hof.stack.mosquitto import TlsListener

pytestmark = pytest.mark.e2e


def test_uplink_over_tls_with_the_homes_own_credential(home: Home, tmp_path: Path) -> None:
    pki = make_certificates(tmp_path / "pki")
    broker = home.platform.broker
    broker.stop()
    broker.tls = TlsListener(certfile=pki.cert, keyfile=pki.key, cafile=pki.ca)
    broker.render()
    broker.start()
    assert broker.tls_port is not None
    home.ingest()
    gateway = home.gateway(
        HOF_MQTT__HOST="127.0.0.1",
        HOF_MQTT__PORT=str(broker.tls_port),
        HOF_MQTT__TLS="true",
        HOF_MQTT__CA_FILE=str(pki.ca),
    )
    gateway.start()
    assert until(lambda: gateway.gauge("hof_gateway_uplink_connected") == 1.0, 20)
    sensor = home.device("env-1")
    at = time.time() - 60
    sensor.publish(
        "reading",
        [
            {"bn": "env-1/", "bt": at, "n": "temperature", "u": "Cel", "v": 18.5},
            {"n": "humidity", "u": "%RH", "v": 71},
        ],
    )
    assert until(lambda: count_stored(home.platform_settings, home.id) == 2, 20)
    log = (broker.dir / "mosquitto.log").read_text()
    assert f"u'{home.id}'" in log  # the home's own credential, not the platform's
