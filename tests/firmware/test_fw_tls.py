"""The device link over TLS: the broker's certificate verified against the project's CA and
the broker's name, and every other answer refused with a clear line in the device's log."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import FIRMWARE, Firmware, Subscriber, until

from hof.errors import ConfigError
from hof.firmware import keygen, pack, sign
from hof.provision import provision
from hof.settings import DeviceListenerSettings, Settings, endpoints_path
from hof.stack import Stack
from hof.stack.mosquitto import TlsListener

WORLD = {"sht4x": {"temp": [[0, 18.0]], "rh": [[0, 70.0]]}}


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _ca(cn: str, path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def make_pki(directory: Path) -> Pki:
    """A CA, the broker's certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca("hof test CA", directory / "ca.crt")
    _ca("some other CA", directory / "other-ca.crt")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, directory / "server.key")
    return Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key",
               directory / "other-ca.crt")  # fmt: skip


@dataclass
class TlsStack:
    stack: Stack
    settings: Settings
    pki: Pki
    tls_port: int


@pytest.fixture
def tls_stack(make_stack: Callable[[], tuple[Stack, Settings]], tmp_path: Path) -> TlsStack:
    """A private stack whose broker has the project's TLS listener (deploy's tls.conf.in)."""
    stack, settings = make_stack()
    pki = make_pki(tmp_path / "pki")
    broker = stack.broker
    broker.stop()
    broker.tls = TlsListener(certfile=pki.cert, keyfile=pki.key, cafile=pki.ca)
    broker.render()
    broker.start()
    # provision() signals the broker recorded here when it adds a device's credential
    stack.info.write(endpoints_path(settings.state_dir))
    assert broker.tls_port is not None
    return TlsStack(stack, settings, pki, broker.tls_port)


def _node(
    firmware: Callable[..., Firmware], ts: TlsStack, ca: Path | None, port: int, **extra: object
) -> Firmware:
    node = firmware("env", WORLD, settings_=ts.settings, interval_s=1, **extra)
    cfg = json.loads(node.config_path.read_text())
    cfg["broker_port"] = port
    if ca is not None:
        (node.workdir / "ca.der").write_bytes(ssl.PEM_cert_to_DER_cert(ca.read_text()))
        cfg.update(tls=True, ca_file="ca.der")
    node.config_path.write_text(json.dumps(cfg))
    node.config = cfg
    return node


def test_readings_travel_over_tls_verified_against_the_projects_ca(
    tls_stack: TlsStack,
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
) -> None:
    node = _node(firmware, tls_stack, tls_stack.pki.ca, tls_stack.tls_port)
    sub = subscriber(node.topic("#"), settings_=tls_stack.settings)
    node.start()
    assert until(lambda: len(sub.on("/reading")) >= 2, 30), node.output()
    status = json.loads(sub.on("/status")[-1][1])
    assert status["state"] == "online"
    log = (tls_stack.stack.broker.dir / "mosquitto.log").read_text()
    assert f"on port {tls_stack.tls_port}" in log  # it came in on the TLS listener
    assert f"u'{node.home}/{node.device}'" in log


def test_provision_writes_the_ca_and_turns_tls_on(tls_stack: TlsStack, tmp_path: Path) -> None:
    made = provision(
        tls_stack.settings, home="T-prov", kind="env", out=tmp_path / "p" / "c.json",
        tls_ca=tls_stack.pki.ca,
    )  # fmt: skip
    cfg = json.loads(made.config_path.read_text())
    assert cfg["tls"] is True
    assert cfg["ca_file"] == "ca.der"
    der = (made.config_path.parent / "ca.der").read_bytes()
    assert der[0] == 0x30  # a DER SEQUENCE, not PEM text


def test_provision_for_a_tls_devices_listener_always_gives_the_ca(
    tls_stack: TlsStack, tmp_path: Path
) -> None:
    devices = DeviceListenerSettings(port=tls_stack.tls_port, tls=True)
    no_ca = tls_stack.settings.model_copy(update={"devices": devices})
    with pytest.raises(ConfigError, match="CA"):
        provision(no_ca, home="T-prov", kind="env", out=tmp_path / "a" / "c.json")
    mqtt = tls_stack.settings.mqtt.model_copy(update={"ca_file": tls_stack.pki.ca})
    with_ca = no_ca.model_copy(update={"mqtt": mqtt})
    made = provision(with_ca, home="T-prov", kind="env", out=tmp_path / "b" / "c.json")
    cfg = json.loads(made.config_path.read_text())
    assert cfg["tls"] is True
    assert cfg["broker_port"] == tls_stack.tls_port
    assert (made.config_path.parent / cfg["ca_file"]).exists()


def _refused(node: Firmware, sub: Subscriber, why: str) -> None:
    lines = node.wait_line("link tls-refused", 30, count=2)  # said on every attempt
    assert why in lines[0], node.output()
    assert not any(ln.startswith("link up") for ln in node.lines), node.output()
    assert not sub.on("/status")
    assert not sub.on("/reading")


def test_a_broker_signed_by_another_ca_is_refused(
    tls_stack: TlsStack,
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
) -> None:
    node = _node(firmware, tls_stack, tls_stack.pki.other_ca, tls_stack.tls_port)
    sub = subscriber(node.topic("#"), settings_=tls_stack.settings)
    node.start()
    _refused(node, sub, "not correctly signed by the trusted CA")


def test_a_certificate_for_another_name_is_refused(
    tls_stack: TlsStack,
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
) -> None:
    node = _node(
        firmware, tls_stack, tls_stack.pki.ca, tls_stack.tls_port,
        tls_server_name="broker.example.org",
    )  # fmt: skip
    sub = subscriber(node.topic("#"), settings_=tls_stack.settings)
    node.start()
    _refused(node, sub, "does not match")


def test_the_plain_port_is_refused_never_used_in_clear(
    tls_stack: TlsStack,
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
) -> None:
    node = _node(firmware, tls_stack, tls_stack.pki.ca, tls_stack.stack.broker.port)
    sub = subscriber(node.topic("#"), settings_=tls_stack.settings)
    node.start()
    _refused(node, sub, "does not speak TLS")


def test_tls_without_its_ca_file_refuses_to_start(
    tls_stack: TlsStack, firmware: Callable[..., Firmware]
) -> None:
    node = _node(firmware, tls_stack, None, tls_stack.tls_port, tls=True, ca_file="missing.der")
    node.start()
    assert node.proc is not None
    assert node.proc.wait(20) != 0
    node.wait_line("ConfigError", 5)
    assert "ca_file" in node.output()
    assert "cannot be read" in node.output()


def test_an_update_is_fetched_over_https_checked_against_the_same_ca(
    tls_stack: TlsStack,
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    key, pub = keygen(tmp_path / "fw")
    image = www / "fw-1.5.0.tar"
    pack(FIRMWARE, image)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_stack.pki.cert, tls_stack.pki.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        node = _node(
            firmware, tls_stack, tls_stack.pki.ca, tls_stack.tls_port,
            fw_key=pub.read_text().strip(),
        )  # fmt: skip
        sub = subscriber(node.topic("#"), settings_=tls_stack.settings)
        node.start()
        assert until(lambda: bool(sub.on("/status")), 30), node.output()
        url = f"https://127.0.0.1:{server.server_address[1]}/{image.name}"
        announce = {"firmware": sign(image, key, "1.5.0", url).model_dump()}
        sub.publish(node.topic("config"), json.dumps(announce), retain=True)
        assert node.proc is not None
        assert node.proc.wait(30) == 75, node.output()
        assert "ota installed 1.5.0" in node.output()
        node.stop()
        node.start()
        assert until(lambda: json.loads(sub.on("/status")[-1][1]).get("fw") == "1.5.0", 30)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
