"""A child process we started ourselves: start with a log file, wait until ready, stop for sure."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hof.errors import StackError

__all__ = [
    "ManagedProcess",
    "own_tree",
    "pid_runs",
    "repo_deploy_dir",
    "service_user",
]


_START_TRIES = 3  # starts of a part whose chosen ports another process keeps taking


def _port_taken(error: StackError) -> bool:
    """Whether a part failed to start because one of its ports was taken meanwhile (its log
    says so: Mosquitto "Address already in use", Go's "bind: address already in use")."""
    return "address already in use" in str(error).lower()


def repo_deploy_dir() -> Path:
    """The `deploy/` folder of the source tree, which holds the real parts' config templates."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "deploy"
        if (candidate / "mosquitto" / "mosquitto.conf.in").is_file():
            return candidate
    raise StackError(f"cannot find deploy/ with the config templates above {here}")


def service_user(preferred: str) -> str | None:
    """The unprivileged user a part runs as when we are root (None when we are not).

    Debian's packages make `mosquitto` and `influxdb`; without them, `nobody`.
    """
    if os.geteuid() != 0:
        return None
    for name in (preferred, "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise StackError(f"neither {preferred!r} nor 'nobody' exists to run {preferred} as")


def own_tree(top: Path, user: str | None) -> None:
    """Make `top` and everything under it owner-only (0700 directories, 0600 files), owned by
    `user` when one is given (a part that runs as that user reads and writes them)."""
    entry = pwd.getpwnam(user) if user is not None else None
    for path in [top, *top.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)
        if entry is not None:
            os.chown(path, entry.pw_uid, entry.pw_gid)


def pid_runs(pid: int, marker: str) -> bool:
    """True when `pid` is alive and runs `marker`, a config file's absolute path (so it is ours):
    named on its command line, or named relative to its working directory."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    if marker in cmdline:
        return True
    config = Path(marker)
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    return cwd == config.parent and f" {config.name}" in f" {cmdline}"


class ManagedProcess:
    """One child process with its output in a log file; `stop` always leaves it dead."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        # The part's own directory, so relative paths in its config reach its files without
        # the directories above it being open to `user`.
        self.cwd = cwd
        # Started as root, the child runs as this user with only that user's groups.
        self.user = user
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                # A session of its own: a Ctrl-C in the terminal reaches us, and we stop the
                # children in order, instead of every process dying at once.
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=self.cwd,
                    umask=0o077,  # what the part writes (persistence, data, logs) is owner-only
                    **self._identity(),
                )
            except OSError as exc:
                raise StackError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc

    def _identity(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        entry = pwd.getpwnam(self.user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def start_ready(
        self, check: Callable[[], bool], timeout_s: float, new_ports: Callable[[], bool]
    ) -> None:
        """Start and wait until `check` is true. If the part exits because a port was taken
        between choosing it and binding it (tests start many parts at once), stop it, let
        `new_ports()` choose and render new ones (False: none of the ports is ours to
        change, so the error stands), and start again, up to three times."""
        for attempt in range(_START_TRIES):
            self.start()
            try:
                self.wait_ready(check, timeout_s)
                return
            except StackError as exc:
                if attempt + 1 == _START_TRIES or not _port_taken(exc):
                    raise
                self.stop()
                if not new_ports():
                    raise

    def wait_ready(self, check: Callable[[], bool], timeout_s: float) -> None:
        """Poll `check` until it is true; fail with the log's tail if the process dies or stalls."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise StackError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            if check():
                return
            time.sleep(0.05)
        raise StackError(f"{self.name} did not answer within {timeout_s:.0f} s:\n{self.log_tail()}")

    def signal(self, signum: int) -> None:
        if self._proc is not None and self.running():
            self._proc.send_signal(signum)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not gone within `timeout_s`."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL at once: a crash or a power cut, for fault tests."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        self._proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
