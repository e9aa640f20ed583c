"""first_of: start-up waits that still hear a stop."""

from __future__ import annotations

import asyncio

from hof.waiting import first_of


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
