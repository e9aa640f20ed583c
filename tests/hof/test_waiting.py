"""first_of and within: waits that still hear a stop."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hof.waiting import first_of, within

ROOT = Path(__file__).resolve().parents[2]


async def test_the_first_to_finish_wins_and_the_rest_are_cancelled() -> None:
    stop = asyncio.Event()
    never = asyncio.Event()
    slow = asyncio.create_task(asyncio.sleep(10))
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await first_of(never, slow, stop) is stop
    assert slow.cancelled()


async def test_an_awaitable_can_win() -> None:
    stop = asyncio.Event()
    quick = asyncio.sleep(0.01)
    assert await first_of(quick, stop) is quick


async def test_an_awaitable_that_fails_is_logged_not_lost() -> None:
    """A start-up rebuild that raised was dropped without a word: first_of never looked at
    the error of what finished first (asyncio said "Task exception was never retrieved" at
    garbage collection, if ever)."""
    import structlog.testing

    async def fails() -> None:
        raise RuntimeError("the rebuild broke")

    stop = asyncio.Event()
    failing = fails()
    with structlog.testing.capture_logs() as logs:
        assert await first_of(failing, stop) is failing
    assert [(e["event"], e["log_level"], e["error"]) for e in logs] == [
        ("wait_failed", "error", "RuntimeError: the rebuild broke")
    ]


async def _loop_cancelled_as_its_event_is_set(
    wait: Callable[[Awaitable[Any], float], Awaitable[Any]],
) -> str:
    """A service's loop that waits at most 10 s for an event, cancelled in the same turn of
    the event loop as the event is set (a SIGTERM as a message arrives)."""
    event = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while rounds < 5:
            rounds += 1
            event.clear()
            with contextlib.suppress(TimeoutError):
                await wait(event.wait(), 10.0)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    event.set()
    task.cancel()
    try:
        await within(asyncio.shield(task), 1.0)
    except asyncio.CancelledError:
        return f"stopped in round {rounds}"
    except TimeoutError:
        task.cancel()
        return f"still waiting in round {rounds}"
    return f"ended after round {rounds}"


async def test_a_loop_cancelled_as_its_event_is_set() -> None:
    """CI, 3 Dec 2026: a dashboard told to stop (SIGTERM) never did. Its summary loop waited
    on `asyncio.wait_for(fresh.wait(), ...)`; the climate pass set `fresh` as the stop
    cancelled both, and Python 3.11's wait_for returned the result and spent the cancel: the
    loop went round again, and the shutdown waited for it for ever."""
    assert await _loop_cancelled_as_its_event_is_set(within) == "stopped in round 1"


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="the lost cancel is Python 3.11's wait_for (3.12 rebuilt it on asyncio.timeout)",
)
async def test_python_311s_wait_for_spends_the_cancel() -> None:
    """Why `within` exists: the same loop on asyncio.wait_for goes on waiting."""
    assert await _loop_cancelled_as_its_event_is_set(asyncio.wait_for) == (
        "still waiting in round 2"
    )


async def test_within_times_out_and_returns_what_finishes() -> None:
    with pytest.raises(TimeoutError):
        await within(asyncio.Event().wait(), 0.01)
    assert await within(asyncio.sleep(0, "done"), 1.0) == "done"
    ready = asyncio.Event()
    ready.set()
    assert await within(ready.wait(), 0) is True  # no limit left, but ready now


def test_no_service_waits_with_asyncio_wait_for() -> None:
    """Every service's timed wait is `hof.waiting.within`: one `asyncio.wait_for` left in a
    loop is a service that may not stop."""
    packages = ("alerts", "dashboard", "gateway", "ingest", "notify", "hof", "simulator")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in packages
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bwait_for\(", line) and "asyncio.wait_for" in line
    ]
    assert found == []
