"""A child process we started ourselves: start with a log file, wait until ready, stop for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hof.errors import StackError

__all__ = ["ManagedProcess", "free_port", "pid_runs", "repo_deploy_dir"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def repo_deploy_dir() -> Path:
    """The `deploy/` folder of the source tree, which holds the real parts' config templates."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "deploy"
        if (candidate / "mosquitto" / "mosquitto.conf.in").is_file():
            return candidate
    raise StackError(f"cannot find deploy/ with the config templates above {here}")


def pid_runs(pid: int, marker: str) -> bool:
    """True when `pid` is alive and its command line contains `marker` (so it is ours)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return marker in cmdline


class ManagedProcess:
    """One child process with its output in a log file; `stop` always leaves it dead."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
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
                )
            except OSError as exc:
                raise StackError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc

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
