"""Sensirion SHT3x temperature and humidity sensor (SHT30/31/35), I2C address 0x44 or 0x45."""

from drivers.sensirion import SensorError, bus_error, word

SINGLE_SHOT_HIGH = b"\x24\x00"  # high repeatability, no clock stretching, 15 ms max


class SHT3x:
    """One SHT3x; `measure()` returns (centi-degrees C, centi-%RH) as integers."""

    name = "sht3x"

    def __init__(self, i2c, board, addr: int = 0x45) -> None:  # type: ignore[no-untyped-def]
        self.i2c = i2c
        self.board = board
        self.addr = addr
        self.buf = bytearray(6)

    def measure(self) -> tuple:
        try:
            self.i2c.writeto(self.addr, SINGLE_SHOT_HIGH)
            self.board.sleep_ms(16)
            self.i2c.readfrom_into(self.addr, self.buf)
        except OSError as exc:
            raise bus_error(self.name, exc)
        st = word(self.buf, 0, self.name)
        srh = word(self.buf, 1, self.name)
        # Datasheet: T = -45 + 175 * St / 65535; RH = 100 * Srh / 65535.
        return -4500 + (17500 * st + 32767) // 65535, (10000 * srh + 32767) // 65535


__all__ = ["SHT3x", "SensorError"]
