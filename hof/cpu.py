"""A bulk worker's CPU priority: lower than every process on the machine, not only its session's.

`nice` alone does not do that on Linux. With the scheduler's autogroups (on by default on most
distributions, `/proc/sys/kernel/sched_autogroup_enabled`), each session is scheduled as one
group and a nice value counts only against the other threads of its own session: an ingest
worker at nice 10 still took its session's full share from the broker, the database and a
webhook receiver of other sessions. In a third-party harness's burst, whose broker, database
and receiver share one session, the fall's webhook waited for them: p99 185-559 ms in 6 runs,
64-134 ms with the bulk workers in a session of their own whose autogroup is niced
(docs/notify.md, "The bulk's CPU priority").

So `yield_cpu` also puts the process's session in an autogroup niced as much:
- a session leader (`hof demo` starts each worker in a session of its own) has its own autogroup
  already: its nice is set;
- a process in another's process group (started with `&` by a script) leaves it for a session
  of its own, asks the kernel for SIGTERM when its parent dies (so that a script killed with
  SIGKILL leaves no worker behind), then sets its autogroup's nice;
- a process group leader that is not a session leader (a job of an interactive shell, whose
  Ctrl-C must still reach it) keeps its session: the nice is its threads' only.
Under systemd each service has a cgroup of its own, where autogroups do not apply; the units
set `CPUWeight=` for the same reason (deploy/systemd).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from pathlib import Path

__all__ = ["yield_cpu"]

_AUTOGROUP = Path("/proc/self/autogroup")
_AUTOGROUP_ENABLED = Path("/proc/sys/kernel/sched_autogroup_enabled")
_PR_SET_PDEATHSIG = 1


def yield_cpu(nice: int) -> str:
    """Lower this process's CPU priority to at least `nice` (0-19), before any thread starts
    (a nice value is a thread's, and threads inherit it from the one that makes them). Says
    what was done, for the worker's start-up log."""
    if nice <= 0:
        return "unchanged"
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    if not _autogroups_on():
        return f"nice {nice}"
    pid = os.getpid()
    if os.getsid(0) != pid:
        if os.getpgrp() == pid:
            return f"nice {nice} (a job of a shell: its session's autogroup left as it is)"
        parent = os.getppid()
        os.setsid()
        _term_when_parent_dies()
        if os.getppid() != parent:  # it died before the request was made
            os.kill(pid, signal.SIGTERM)
    try:
        _AUTOGROUP.write_text(str(nice))
    except OSError as exc:  # a kernel that refuses: the threads' nice still holds
        return f"nice {nice} (autogroup refused: {exc.strerror})"
    return f"nice {nice}, and its own autogroup at nice {nice}"


def _autogroups_on() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return _AUTOGROUP_ENABLED.read_text().strip() == "1" and _AUTOGROUP.exists()
    except OSError:
        return False


def _term_when_parent_dies() -> None:
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
