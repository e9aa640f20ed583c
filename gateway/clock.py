"""Whether the hub's clock is synchronised (the kernel's NTP state, read with adjtimex(2))."""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["clock_synced"]

_TIME_ERROR = 5  # adjtimex: the clock is not synchronised


def clock_synced() -> bool | None:
    """True when the kernel says the clock is synchronised, False when not, None if unknown.

    Relative SenML times are resolved against this clock: an unsynchronised hub stamps them
    wrongly, so the status says so.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # struct timex; modes = 0: read only
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR
