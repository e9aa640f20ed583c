"""The hardware abstraction layer: the only place that knows which board it runs on.

`board()` returns the backend for this platform: `hal.esp32.Board` on an ESP32 (machine,
network, esp32), `hal.unix.Board` on the MicroPython Unix port, where simulated I2C devices,
pins and a scalable clock are driven by a JSON script the tests write (see hal/sim.py).
"""

import sys

_board = None


def board():  # type: ignore[no-untyped-def]
    """The one Board of this process, made on first use."""
    global _board
    if _board is None:
        if sys.platform == "esp32":
            from hal.esp32 import Board
        else:
            from hal.unix import Board  # type: ignore[assignment]
        _board = Board()
    return _board
