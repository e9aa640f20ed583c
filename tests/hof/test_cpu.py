"""A bulk worker's CPU priority (hof/cpu.py) against processes of other sessions, measured on
real processes sharing one CPU; and that a worker started by a script leaves with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hof.cpu import yield_cpu

AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")
needs_autogroups = pytest.mark.skipif(
    not AUTOGROUPS.exists() or AUTOGROUPS.read_text().strip() != "1",
    reason="the kernel schedules no autogroups here: a nice value counts machine-wide",
)

# A child that yields (or not) and then spins, printing its session and autogroup first.
SPIN = textwrap.dedent(
    """
    import os, sys, time
    sys.path[:0] = {path!r}
    os.sched_setaffinity(0, {{{cpu}}})
    if {nice}:
        from hof.cpu import yield_cpu
        done = yield_cpu({nice})
    else:
        done = "-"
    with open("/proc/self/autogroup") as f:
        group = f.read().strip()
    print(os.getsid(0) == os.getpid(), group, done, sep="|", flush=True)
    end = time.monotonic() + {spin_s}
    while time.monotonic() < end:
        pass
    """
)


def _spin(nice: int, cpu: int, spin_s: float) -> str:
    return SPIN.format(path=sys.path, cpu=cpu, nice=nice, spin_s=spin_s)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_line(proc: subprocess.Popen[str], within_s: float = 30.0) -> str:
    assert proc.stdout is not None
    start = time.monotonic()
    line = proc.stdout.readline()
    assert line, f"no line from the child within {time.monotonic() - start:.1f} s"
    return line.strip()


@needs_autogroups
def test_a_bulk_worker_started_by_a_script_yields_to_another_sessions_process() -> None:
    """Started with `&` by a script, as the harness and the demo's scripts start ingest: at nice
    10 it took half of a CPU shared with a process of another session (autogroups make a nice
    count only within its session); with its own autogroup niced it takes about a tenth."""
    cpu = max(os.sched_getaffinity(0))
    script = f'{sys.executable} -c "$BULK" & wait'
    bulk_parent = subprocess.Popen(
        ["sh", "-c", script],
        env={**os.environ, "BULK": _spin(10, cpu, 8.0)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    other = subprocess.Popen(
        [sys.executable, "-c", _spin(0, cpu, 8.0)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        own_session, group, done = _wait_line(bulk_parent).split("|")
        _wait_line(other)
        bulk_pid = int(
            subprocess.run(
                ["pgrep", "-P", str(bulk_parent.pid)], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        )
        time.sleep(0.3)  # both spinning
        b0, o0 = _cpu_s(bulk_pid), _cpu_s(other.pid)
        time.sleep(2.0)
        bulk, theirs = _cpu_s(bulk_pid) - b0, _cpu_s(other.pid) - o0
    finally:
        os.killpg(bulk_parent.pid, signal.SIGKILL)
        other.kill()
        bulk_parent.wait(10)
        other.wait(10)
        for proc in (bulk_parent, other):
            assert proc.stdout is not None
            proc.stdout.close()
    share = theirs / max(bulk + theirs, 1e-9)
    assert share > 0.75, f"the other session's process had {share:.0%} of the CPU they shared"
    assert own_session == "True", done
    assert group.endswith("nice 10"), group


@needs_autogroups
def test_a_worker_whose_script_is_killed_is_stopped_too(tmp_path: Path) -> None:
    """In a session of its own the worker is no longer in its script's process group, which a
    harness kills; it asks for SIGTERM when its parent dies, so nothing is left running."""
    pid_file = tmp_path / "pid"
    child = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path[:0] = {sys.path!r}
        from hof.cpu import yield_cpu
        yield_cpu(10)
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        ["sh", "-c", f'{sys.executable} -c "$CHILD" & wait'],
        env={**os.environ, "CHILD": child},
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.05)
    worker = int(pid_file.read_text())
    os.killpg(parent.pid, signal.SIGKILL)  # the worker is not in that group any more
    parent.wait(10)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists() and _state(worker) != "Z":
        if time.monotonic() > deadline:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived its killed script")
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_shells_job_keeps_its_session_so_that_ctrl_c_reaches_it() -> None:
    """A process group leader that is not a session leader (`hof ingest` typed in a terminal)
    stays where it is: only its threads are niced."""
    probe = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = {sys.path!r}
        from hof.cpu import yield_cpu
        sid = os.getsid(0)
        done = yield_cpu(5)
        print(os.getsid(0) == sid, os.getpriority(os.PRIO_PROCESS, 0), done, sep="|")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, process_group=0
    ).stdout.strip()
    same_session, nice, _done = out.split("|")
    assert same_session == "True"
    assert int(nice) >= 5


def test_nice_zero_changes_nothing() -> None:
    before = (os.getsid(0), os.getpriority(os.PRIO_PROCESS, 0))
    assert yield_cpu(0) == "unchanged"
    assert (os.getsid(0), os.getpriority(os.PRIO_PROCESS, 0)) == before
