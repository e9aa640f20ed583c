"""A service's SIGTERM is seen even when asyncio's self-pipe is full."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from hof.cli import run_until_signalled


def test_sigterm_is_seen_when_the_loops_self_pipe_is_full() -> None:
    seen: list[bool] = []

    async def work(stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def flood_then_signal() -> None:
            # Far more wake-ups than the socket's buffer holds (each is a 1-byte write), as a
            # burst of MQTT deliveries from paho's thread makes while the loop is busy.
            for _ in range(20_000):
                loop.call_soon_threadsafe(lambda: None)
            os.kill(os.getpid(), signal.SIGTERM)

        sender = threading.Thread(target=flood_then_signal)
        sender.start()
        sender.join()  # the loop is blocked meanwhile: nothing reads the pipe
        try:
            await asyncio.wait_for(stop.wait(), 5)
            seen.append(True)
        except TimeoutError:
            seen.append(False)

    before = signal.getsignal(signal.SIGTERM)
    assert run_until_signalled(work) == 0
    assert seen == [True], "the SIGTERM was lost"
    assert signal.getsignal(signal.SIGTERM) is before
