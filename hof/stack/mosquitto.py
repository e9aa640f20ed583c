"""The platform broker: Debian's Mosquitto 2 with a rendered config, password files and ACL."""

from __future__ import annotations

import fcntl
import getpass
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from hof.errors import StackError
from hof.stack.ports import free_port
from hof.stack.process import ManagedProcess, own_tree, repo_deploy_dir, service_user

__all__ = ["BrokerTuning", "Mosquitto", "TlsListener", "mqtt_connect_rc", "write_credential"]


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
    host: str,
    port: int,
    username: str,
    password: str,
    timeout_s: float = 2.0,
    tls: ssl.SSLContext | None = None,
) -> int:
    """Send one MQTT 3.1.1 CONNECT and return CONNACK's return code (0 accepted), or -1 when
    the listener cannot be reached or does not answer as MQTT. `tls` for a TLS listener.

    A real protocol exchange, not a port probe: it proves the config, the listener and the
    credential all work.
    """
    flags = 0x80 | 0x40 | 0x02  # username, password, clean session
    variable = _encode_str("MQTT") + bytes([4, flags]) + struct.pack("!H", 10)
    body = variable + _encode_str("hof-stack-probe") + _encode_str(username) + _encode_str(password)
    packet = bytes([0x10, len(body)]) + body
    try:
        plain = socket.create_connection((host, port), timeout=timeout_s)
        try:
            sock = tls.wrap_socket(plain, server_hostname=host) if tls else plain
        except OSError:
            plain.close()  # the handshake failed: the bare socket is still ours to close
            raise
        with sock:
            sock.sendall(packet)
            reply = sock.recv(4)
            sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError:  # ssl.SSLError is one
        return -1
    if len(reply) != 4 or reply[0] != 0x20:
        return -1
    return reply[3]


def write_credential(
    passwd_path: Path, username: str, password: str, passwd_binary: str = "mosquitto_passwd"
) -> None:
    """Add or replace one credential in a Mosquitto password file (stored as a salted hash).

    mosquitto_passwd rewrites its file in place, and a running broker told to reload at that
    moment would read it half written and refuse devices that were fine. So it edits a copy
    (same owner and mode) that then replaces the file in one rename, under a lock so that two
    provisioning runs do not each replace the other's copy.
    """
    lock_fd = os.open(
        passwd_path.with_name(passwd_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600
    )
    with os.fdopen(lock_fd, "r+") as lock:  # owner-only, as every file of the stack
        fcntl.flock(lock, fcntl.LOCK_EX)
        work = passwd_path.with_name(passwd_path.name + ".new")
        shutil.copy2(passwd_path, work)
        st = passwd_path.stat()
        if os.geteuid() == 0:
            os.chown(work, st.st_uid, st.st_gid)
        result = subprocess.run(
            [passwd_binary, "-b", str(work), username, password],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            work.unlink(missing_ok=True)
            raise StackError(f"mosquitto_passwd refused {username!r}: {result.stderr.strip()}")
        os.replace(work, passwd_path)


class Mosquitto:
    """One Mosquitto broker on loopback, configured from deploy/, its state under `state_dir`.

    Two listeners: `platform_port` for the platform's own accounts (`users`: services and the
    simulator) and `port` for devices and home gateways (`add_user`, `hof provision`), where
    the client id is the username. Started as root, the broker runs as Debian's `mosquitto`.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 0,
        platform_port: int = 0,
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
        # Ports left to us (0) are chosen again if another process takes one first.
        self._own_ports = (not port, not platform_port)
        self.port = port or free_port(host)
        self.platform_port = platform_port or free_port(host)
        self.passwd_binary = passwd_binary
        self.users = dict(users)
        self.platform_user = platform_user
        self.simulator_user = simulator_user
        self.tuning = tuning
        self.tls = tls
        self.tls_port = (tls.port or free_port(host)) if tls is not None else None
        self.run_user = service_user("mosquitto")
        self.config_path = self.dir / "mosquitto.conf"
        # Devices' and gateways' credentials: kept across renders (`hof provision` adds to it).
        self.passwd_path = self.dir / "passwd"
        # The platform's own accounts, made again from the state directory's credentials.
        self.platform_passwd_path = self.dir / "platform.passwd"
        self.acl_path = self.dir / "acl"
        self.process = ManagedProcess(
            "mosquitto",
            [binary, "-c", self.config_path.name],
            self.dir / "mosquitto.log",
            cwd=self.dir,
        )

    def render(self) -> None:
        """Write the config, ACL and platform password file; keep the devices' password file.

        Everything is owner-only (0600 files, a 0700 directory), owned by the user the broker
        runs as, which reads the password files again on SIGHUP.
        """
        deploy = repo_deploy_dir() / "mosquitto"
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        # Paths relative to the broker's working directory, `self.dir` (see ManagedProcess.cwd).
        values = {
            "port": str(self.port),
            "platform_port": str(self.platform_port),
            "bind": self.host,
            "run_user": self.run_user or getpass.getuser(),
            "passwd_file": self.passwd_path.name,
            "platform_passwd_file": self.platform_passwd_path.name,
            "acl_file": self.acl_path.name,
            "data_dir": "data",
            "log_file": self.process.log_path.name,
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
            # Copies in the broker's own directory: it loads them after dropping to `run_user`,
            # which may not reach the originals (and the key stays owner-only there).
            tls_dir = self.dir / "tls"
            tls_dir.mkdir(exist_ok=True)
            for name, source in (
                ("ca.crt", self.tls.cafile),
                ("server.crt", self.tls.certfile),
                ("server.key", self.tls.keyfile),
            ):
                (tls_dir / name).write_bytes(source.read_bytes())
            tls_values = {
                "bind": self.host,
                "tls_port": str(self.tls_port),
                "passwd_file": self.passwd_path.name,
                "acl_file": self.acl_path.name,
                "tls_cafile": "tls/ca.crt",
                "tls_certfile": "tls/server.crt",
                "tls_keyfile": "tls/server.key",
            }
            conf += Template((deploy / "tls.conf.in").read_text()).substitute(tls_values)
        self.config_path.write_text(conf)
        self.acl_path.write_text(Template((deploy / "acl.in").read_text()).substitute(values))
        self.platform_passwd_path.write_text("")
        for username, password in self.users.items():
            write_credential(self.platform_passwd_path, username, password, self.passwd_binary)
        self._keep_device_credentials()
        self.process.log_path.touch()
        own_tree(self.dir, self.run_user)

    def _keep_device_credentials(self) -> None:
        """Create the devices' password file, or keep every entry in it but the platform's
        own accounts (an older layout kept them there; they belong on the platform listener)."""
        if not self.passwd_path.exists():
            self.passwd_path.touch(0o600)
            return
        lines = self.passwd_path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if line.split(":", 1)[0] not in self.users]
        if kept != lines:
            self.passwd_path.write_text("".join(kept))

    def add_user(self, username: str, password: str) -> None:
        """Register a device's or gateway's credential and make the running broker read it."""
        write_credential(self.passwd_path, username, password, self.passwd_binary)
        self.process.signal(signal.SIGHUP)

    def ready(self) -> bool:
        user = self.platform_user
        return mqtt_connect_rc(self.host, self.platform_port, user, self.users[user]) == 0

    def start(self, timeout_s: float = 30.0) -> None:
        """Start and wait until the platform listener answers MQTT; listeners on ports we
        chose that another process took first move to new ones (`start_ready`), and a port
        the settings name is never changed behind the operator's back."""
        if not self.config_path.exists():
            self.render()
        self.process.start_ready(self.ready, timeout_s, self._new_ports)

    def _new_ports(self) -> bool:
        """New ports for the listeners we chose, rendered; False if none is ours."""
        own_device, own_platform = self._own_ports
        if not (own_device or own_platform):
            return False
        if own_device:
            self.port = free_port(self.host)
        if own_platform:
            self.platform_port = free_port(self.host)
        if self.tls is not None and not self.tls.port:
            self.tls_port = free_port(self.host)
        self.render()
        return True

    def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistence file on SIGTERM."""
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()
