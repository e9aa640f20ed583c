"""The time-series store: Debian's InfluxDB 1.x with a rendered config and a bootstrapped admin."""

from __future__ import annotations

from pathlib import Path
from string import Template

import httpx

from hof.errors import StackError
from hof.stack.ports import free_port
from hof.stack.process import ManagedProcess, own_tree, repo_deploy_dir, service_user

__all__ = ["InfluxDB"]


class InfluxDB:
    """One InfluxDB on loopback with auth on; the admin credential and database are created once."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        binary: str = "influxd",
        username: str,
        password: str,
        database: str,
    ) -> None:
        self.dir = state_dir
        self.host = host
        self._own_port = not port  # chosen again if another process takes it first
        self.port = port or free_port(host)
        self.rpc_port = free_port(host)
        self.username = username
        self.password = password
        self.database = database
        self.config_path = self.dir / "influxdb.conf"
        # Started as root, InfluxDB runs as Debian's `influxdb` user (it has no option to drop
        # privileges itself), in its own directory so that relative paths reach its files.
        self.run_user = service_user("influxdb")
        self.process = ManagedProcess(
            "influxdb",
            [binary, "run", "-config", self.config_path.name],
            self.dir / "influxdb.log",
            cwd=self.dir,
            user=self.run_user,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def render(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        template = Template((repo_deploy_dir() / "influxdb" / "influxdb.conf.in").read_text())
        self.config_path.write_text(
            template.substitute(
                bind=self.host,
                http_port=str(self.port),
                rpc_port=str(self.rpc_port),
                data_dir="data",  # relative to its working directory, self.dir
            )
        )
        self.process.log_path.touch()
        own_tree(self.dir, self.run_user)

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False

    def query(self, q: str, *, auth: bool = True) -> httpx.Response:
        """Run an administrative InfluxQL statement (POST /query)."""
        return httpx.post(
            f"{self.url}/query",
            params={"q": q},
            auth=(self.username, self.password) if auth else None,
            timeout=10.0,
        )

    def _bootstrap(self) -> None:
        # InfluxDB 1.x lets the first admin be created without a credential, and nothing else.
        probe = self.query("SHOW DATABASES", auth=False)
        if "create admin user first" in probe.text.lower():
            escaped = self.password.replace("\\", "\\\\").replace("'", "\\'")
            created = self.query(
                f"CREATE USER \"{self.username}\" WITH PASSWORD '{escaped}' WITH ALL PRIVILEGES",
                auth=False,
            )
            if created.status_code != 200 or '"error"' in created.text:
                raise StackError(f"cannot create InfluxDB's admin user: {created.text}")
        made = self.query(f'CREATE DATABASE "{self.database}"')
        if made.status_code != 200 or '"error"' in made.text:
            raise StackError(f"cannot create database {self.database!r}: {made.text}")

    def start(self, timeout_s: float = 60.0) -> None:
        """Start, wait until it answers, and make the database and account. Ports we chose
        that another process took first are chosen again (`start_ready`): the RPC port is
        always ours, the HTTP port only when the settings leave it to us."""
        if not self.config_path.exists():
            self.render()
        self.process.start_ready(self.ready, timeout_s, self._new_ports)
        self._bootstrap()

    def _new_ports(self) -> bool:
        if self._own_port:
            self.port = free_port(self.host)
        self.rpc_port = free_port(self.host)
        self.render()
        return True

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()
