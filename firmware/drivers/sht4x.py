"""Sensirion SHT4x temperature and humidity sensor (SHT40/41/45), I2C address 0x44."""

from drivers.sensirion import SensorError, bus_error, word

MEASURE_HIGH = 0xFD  # high repeatability, 8.3 ms typical
SOFT_RESET = 0x94


class SHT4x:
    """One SHT4x; `measure()` returns (centi-degrees C, centi-%RH) as integers."""

    name = "sht4x"

    def __init__(self, i2c, board, addr: int = 0x44, name: str = "sht4x") -> None:  # type: ignore[no-untyped-def]
        self.i2c = i2c
        self.board = board
        self.addr = addr
        self.name = name
        self.cmd = bytearray(1)
        self.buf = bytearray(6)

    def measure(self) -> tuple:
        self.cmd[0] = MEASURE_HIGH
        try:
            self.i2c.writeto(self.addr, self.cmd)
            self.board.sleep_ms(10)
            self.i2c.readfrom_into(self.addr, self.buf)
        except OSError as exc:
            raise bus_error(self.name, exc)
        st = word(self.buf, 0, self.name)
        srh = word(self.buf, 1, self.name)
        # Datasheet: T = -45 + 175 * St / 65535; RH = -6 + 125 * Srh / 65535, clipped to 0..100.
        t_centi = -4500 + (17500 * st + 32767) // 65535
        rh_centi = -600 + (12500 * srh + 32767) // 65535
        rh_centi = 0 if rh_centi < 0 else 10000 if rh_centi > 10000 else rh_centi
        return t_centi, rh_centi


__all__ = ["SHT4x", "SensorError"]
