"""SIPp (Debian's sip-tester) as a receiving alarm receiving centre, for the SCAIP tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["SIPP", "Arc", "free_udp_port", "needs_sipp"]

SCENARIO = Path(__file__).with_name("scaip_arc.xml")
SIPP = shutil.which("sipp")

needs_sipp = pytest.mark.skipif(SIPP is None, reason="sipp (Debian's sip-tester) is not installed")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Arc:
    """One SIPp process answering `calls` SCAIP exchanges, then exiting."""

    def __init__(self, workdir: Path, calls: int) -> None:
        assert SIPP is not None
        self.port = free_udp_port()
        self.workdir = workdir
        self.proc = subprocess.Popen(
            [
                SIPP,
                *("-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(self.port)),
                *("-m", str(calls), "-t", "u1", "-nostdin"),
                *("-timeout", "30s", "-timeout_error"),
                *("-trace_msg", "-trace_err", "-trace_logs"),
            ],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait_bound()

    def _wait_bound(self) -> None:
        # SIPp is ready once its UDP port is taken.
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", self.port))
                except OSError:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"sipp did not start: {self.errors()}")

    def wait(self, timeout_s: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout_s)

    def _read(self, pattern: str) -> str:
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob(pattern))

    def messages(self) -> str:
        return self._read("*_messages.log")

    def errors(self) -> str:
        return self._read("*_errors.log")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
