"""Provision a device: its own id and MQTT credential, registered with the broker, in its config.

Every device gets a random password of its own (UK PSTI: no universal default password). Its
MQTT username is `{home}/{device}`, which the broker's ACL (deploy/mosquitto/acl.in) confines to
the device's own topics; on the broker's devices' listener it is also the MQTT client id. The
config file is what the firmware reads at boot (`/config.json` on the board); it holds the
secret, so it is written owner-only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hof.errors import ConfigError, StackError
from hof.settings import Settings, endpoints_path
from hof.stack.mosquitto import mqtt_connect_rc, write_credential
from hof.stack.process import pid_runs
from hof.topic import is_valid_id

__all__ = [
    "Provisioned",
    "add_arguments",
    "device_config",
    "new_device_id",
    "provision",
    "register_credential",
    "run",
]

KINDS = {"env": "env", "telecare": "tc"}


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What provisioning made; `password` is shown once and kept only in the config file."""

    home: str
    device: str
    username: str
    password: str
    config_path: Path


def new_device_id(kind: str) -> str:
    """A fresh device id such as `env-3f2a1c` (24 random bits: unique within a home)."""
    return f"{KINDS[kind]}-{secrets.token_hex(3)}"


def device_config(
    *,
    home: str,
    device: str,
    kind: str,
    password: str,
    broker_host: str,
    broker_port: int,
    interval_s: float = 300,
    power: str = "mains",
    wifi_ssid: str = "",
    wifi_psk: str = "",
) -> dict[str, Any]:
    """The firmware's config file (firmware/lib/config.py reads it)."""
    return {
        "home": home,
        "device": device,
        "kind": kind,
        "power": power,
        "broker_host": broker_host,
        "broker_port": broker_port,
        "username": f"{home}/{device}",
        "password": password,
        "interval_s": interval_s,
        "wifi": {"ssid": wifi_ssid, "psk": wifi_psk},
    }


def register_credential(
    state_dir: Path, username: str, password: str, passwd_bin: str = "mosquitto_passwd"
) -> bool:
    """Add the credential to the local stack's Mosquitto and make it re-read the file.

    Returns whether a running broker was signalled (False: the file was written, and the broker
    reads it when it next starts).
    """
    passwd = state_dir / "stack" / "mosquitto" / "passwd"  # the devices' listener's
    if not passwd.exists():
        raise StackError(f"no broker password file at {passwd}: is the stack set up here?")
    write_credential(passwd, username, password, passwd_bin)
    return signal_broker(state_dir)


def signal_broker(state_dir: Path) -> bool:
    """SIGHUP the local stack's broker so it re-reads its password file; False if none runs."""
    try:
        endpoints = json.loads(endpoints_path(state_dir).read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        raise StackError(f"cannot read {endpoints_path(state_dir)}: {exc}") from exc
    pid = endpoints.get("pids", {}).get("mosquitto")
    marker = endpoints.get("markers", {}).get("mosquitto", "")
    # Signal only the broker the stack started: a recycled pid must not get our SIGHUP.
    if not isinstance(pid, int) or not marker or not pid_runs(pid, marker):
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def _connack(settings: Settings, username: str, password: str) -> int:
    """The devices' listener's CONNACK code for this credential: 0 accepted, -1 unreachable."""
    port = settings.devices.port
    if port is None:
        return -1
    tls = None
    if settings.devices.tls:
        if settings.mqtt.ca_file is None:
            return -1
        tls = ssl.create_default_context(cafile=str(settings.mqtt.ca_file))
    return mqtt_connect_rc(
        settings.devices.host or settings.mqtt.host, port, username, password, tls=tls
    )


def confirm_credential(
    settings: Settings, username: str, password: str, timeout_s: float = 10
) -> None:
    """Wait until the running broker accepts the new credential, signalling it again if need be.

    Mosquitto clears its reload flag when a reload ends, so a SIGHUP that lands while it is
    still reloading for another device is lost, and a reload that reads the password file while
    mosquitto_passwd rewrites it sees it half written: either way the device would be refused
    until some later reload. Seen in CI when two devices were provisioned back to back.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        code = _connack(settings, username, password)
        if code <= 0:
            return  # accepted, or no listener here to ask (the broker reads the file at start)
        if time.monotonic() > deadline:
            raise StackError(
                f"the broker still refuses {username!r} (reason {code}) {timeout_s:.0f} s after"
                " re-reading its password file: check the broker's log"
            )
        signal_broker(settings.state_dir)
        time.sleep(0.3)


def provision(
    settings: Settings,
    *,
    home: str,
    kind: str,
    out: Path,
    device: str | None = None,
    interval_s: float = 300,
    power: str = "mains",
    broker_host: str | None = None,
    broker_port: int | None = None,
    wifi_ssid: str = "",
    wifi_psk: str = "",
    tls_ca: Path | None = None,
    fw_key: str | None = None,
) -> Provisioned:
    """Make a device's id and password, register them with the broker, write its config."""
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
    device = device or new_device_id(kind)
    for label, value in (("home", home), ("device", device)):
        if not is_valid_id(value):
            raise ConfigError(f"{label} {value!r} is not an id of the contract")
    if not 1 <= interval_s <= 86400:
        raise ConfigError("interval must be between 1 s and 1 day")
    password = secrets.token_urlsafe(24)
    username = f"{home}/{device}"
    if register_credential(
        settings.state_dir, username, password, settings.stack.mosquitto_passwd_bin
    ):
        confirm_credential(settings, username, password)
    cfg = device_config(
        home=home,
        device=device,
        kind=kind,
        password=password,
        broker_host=broker_host or settings.devices.host or settings.mqtt.host,
        broker_port=broker_port or settings.devices.port or settings.mqtt.port,
        interval_s=interval_s,
        power=power,
        wifi_ssid=wifi_ssid,
        wifi_psk=wifi_psk,
    )
    if settings.devices.tls and tls_ca is None:
        # The devices' listener speaks only TLS: a device without the CA could never connect.
        tls_ca = settings.mqtt.ca_file
        if tls_ca is None:
            raise ConfigError("devices.tls is on: name the broker's CA (--tls-ca or mqtt.ca_file)")
    path = out / f"{device}.json" if out.is_dir() else out
    path.parent.mkdir(parents=True, exist_ok=True)
    if tls_ca is not None:
        # The device's mbedtls may parse no PEM: its copy of the CA goes beside it in DER.
        der = ssl.PEM_cert_to_DER_cert(tls_ca.read_text())
        (path.parent / "ca.der").write_bytes(der)
        cfg.update(tls=True, ca_file="ca.der")
    if fw_key is not None:
        cfg["fw_key"] = fw_key  # Ed25519 public key (base64) that firmware updates must match
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent=2)
    return Provisioned(home, device, username, password, path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", required=True, help="the property's id, e.g. LCC-004512")
    parser.add_argument("--kind", choices=sorted(KINDS), default="env")
    parser.add_argument("--device", help="the device's id (default: a fresh random one)")
    parser.add_argument("--interval", type=float, default=300, help="seconds between readings")
    parser.add_argument("--power", choices=("mains", "battery"), default="mains")
    parser.add_argument("--broker-host", help="as the device must reach it (default: settings)")
    parser.add_argument("--broker-port", type=int)
    parser.add_argument("--wifi-ssid", default="")
    parser.add_argument(
        "--wifi-psk-env",
        default="HOF_WIFI_PSK",
        help="environment variable holding the Wi-Fi passphrase (kept off the command line)",
    )
    parser.add_argument(
        "--tls-ca",
        type=Path,
        help="the broker's CA (PEM): the device speaks MQTT over TLS only, verifying against it"
        " (written beside the config as ca.der)",
    )
    parser.add_argument(
        "--fw-key",
        type=Path,
        help="the firmware signing public key (hof firmware keygen's .pub): updates must match",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        help="the config file to write, or a directory for {device}.json",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    made = provision(
        settings,
        home=args.home,
        kind=args.kind,
        out=args.out,
        device=args.device,
        interval_s=args.interval,
        power=args.power,
        broker_host=args.broker_host,
        broker_port=args.broker_port,
        wifi_ssid=args.wifi_ssid,
        wifi_psk=os.environ.get(args.wifi_psk_env, ""),
        tls_ca=args.tls_ca,
        fw_key=args.fw_key.read_text().strip() if args.fw_key else None,
    )
    print(f"provisioned {made.username}; config written to {made.config_path} (owner-only)")
    print("copy it to the board as /config.json: mpremote cp FILE :/config.json")
    return 0
