"""The platform broker: Debian's Mosquitto 2 with a rendered config, password file and ACL."""

from __future__ import annotations

import getpass
import signal
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from hof.errors import StackError
from hof.stack.process import ManagedProcess, free_port, repo_deploy_dir

__all__ = ["BrokerTuning", "Mosquitto", "TlsListener", "mqtt_connect_rc"]


@dataclass(frozen=True, slots=True)
class BrokerTuning:
    """The values rendered into deploy/mosquitto/mosquitto.conf.in that a deployment may change."""

    max_queued_messages: int = 2_000_000
    autosave_interval_s: int = 30
    session_expiry: str = "14d"


@dataclass(frozen=True, slots=True)
class TlsListener:
    """An extra TLS listener (deploy/mosquitto/tls.conf.in): its port and PEM files."""

    certfile: Path
    keyfile: Path
    cafile: Path
    port: int = 0


def _encode_str(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def mqtt_connect_rc(
    host: str, port: int, username: str, password: str, timeout_s: float = 2.0
) -> int:
    """Send one MQTT 3.1.1 CONNECT and return CONNACK's return code (0 accepted), or -1.

    A real protocol exchange, not a port probe: it proves the config, the listener and the
    credential all work.
    """
    flags = 0x80 | 0x40 | 0x02  # username, password, clean session
    variable = _encode_str("MQTT") + bytes([4, flags]) + struct.pack("!H", 10)
    body = variable + _encode_str("hof-stack-probe") + _encode_str(username) + _encode_str(password)
    packet = bytes([0x10, len(body)]) + body
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(packet)
            reply = sock.recv(4)
            sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError:
        return -1
    if len(reply) != 4 or reply[0] != 0x20:
        return -1
    return reply[3]


class Mosquitto:
    """One Mosquitto broker on loopback, configured from deploy/, its state under `state_dir`."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        binary: str = "mosquitto",
        passwd_binary: str = "mosquitto_passwd",
        users: dict[str, str],
        platform_user: str,
        simulator_user: str,
        tuning: BrokerTuning = BrokerTuning(),
        tls: TlsListener | None = None,
    ) -> None:
        self.dir = state_dir
        self.host = host
        self.port = port or free_port(host)
        self.passwd_binary = passwd_binary
        self.users = dict(users)
        self.platform_user = platform_user
        self.simulator_user = simulator_user
        self.tuning = tuning
        self.tls = tls
        self.tls_port = (tls.port or free_port(host)) if tls is not None else None
        self.config_path = self.dir / "mosquitto.conf"
        self.passwd_path = self.dir / "passwd"
        self.acl_path = self.dir / "acl"
        self.process = ManagedProcess(
            "mosquitto", [binary, "-c", str(self.config_path)], self.dir / "mosquitto.log"
        )

    def render(self) -> None:
        """Write the config, ACL and password file (owner-only: they hold hashes)."""
        deploy = repo_deploy_dir() / "mosquitto"
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        values = {
            "port": str(self.port),
            "bind": self.host,
            "run_user": getpass.getuser(),
            "passwd_file": str(self.passwd_path),
            "acl_file": str(self.acl_path),
            "data_dir": str(self.dir / "data"),
            "log_file": str(self.process.log_path),
            "max_queued_messages": str(self.tuning.max_queued_messages),
            "autosave_interval_s": str(self.tuning.autosave_interval_s),
            "session_expiry": self.tuning.session_expiry,
            "platform_user": self.platform_user,
            "simulator_user": self.simulator_user,
        }
        conf = Template((deploy / "mosquitto.conf.in").read_text()).substitute(values)
        if self.tls is not None:
            if self.tls_port is None:
                self.tls_port = self.tls.port or free_port(self.host)
            tls_values = {
                "bind": self.host,
                "tls_port": str(self.tls_port),
                "tls_cafile": str(self.tls.cafile),
                "tls_certfile": str(self.tls.certfile),
                "tls_keyfile": str(self.tls.keyfile),
            }
            conf += Template((deploy / "tls.conf.in").read_text()).substitute(tls_values)
        self.config_path.write_text(conf)
        self.acl_path.write_text(Template((deploy / "acl.in").read_text()).substitute(values))
        self.acl_path.chmod(0o600)
        self.passwd_path.write_text("")
        self.passwd_path.chmod(0o600)
        for username, password in self.users.items():
            self._write_user(username, password)

    def _write_user(self, username: str, password: str) -> None:
        result = subprocess.run(
            [self.passwd_binary, "-b", str(self.passwd_path), username, password],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"mosquitto_passwd refused {username!r}: {result.stderr.strip()}")

    def add_user(self, username: str, password: str) -> None:
        """Register one more credential and make the running broker read it (SIGHUP)."""
        self.users[username] = password
        self._write_user(username, password)
        self.process.signal(signal.SIGHUP)

    def ready(self) -> bool:
        user = self.platform_user
        return mqtt_connect_rc(self.host, self.port, user, self.users[user]) == 0

    def start(self, timeout_s: float = 30.0) -> None:
        if not self.config_path.exists():
            self.render()
        self.process.start()
        self.process.wait_ready(self.ready, timeout_s)

    def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistence file on SIGTERM."""
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()
