"""Sensirion SCD4x CO2 sensor (SCD40/41), I2C address 0x62: periodic or single-shot."""

from drivers.sensirion import NOT_READY, SensorError, bus_error, word

START_PERIODIC = b"\x21\xb1"
STOP_PERIODIC = b"\x3f\x86"
SINGLE_SHOT = b"\x21\x9d"  # SCD41 only: one measurement, 5 s
DATA_READY = b"\xe4\xb8"
READ_MEASUREMENT = b"\xec\x05"


class SCD4x:
    """One SCD4x; `read()` returns (ppm, centi-degrees C, centi-%RH) once data is ready."""

    name = "scd4x"

    def __init__(self, i2c, board, addr: int = 0x62) -> None:  # type: ignore[no-untyped-def]
        self.i2c = i2c
        self.board = board
        self.addr = addr
        self.buf = bytearray(9)
        self.ready_buf = bytearray(3)

    def _command(self, cmd: bytes, wait_ms: int) -> None:
        try:
            self.i2c.writeto(self.addr, cmd)
        except OSError as exc:
            raise bus_error(self.name, exc)
        if wait_ms:
            self.board.sleep_ms(wait_ms)

    def start_periodic(self) -> None:
        self._command(START_PERIODIC, 0)

    def stop_periodic(self) -> None:
        self._command(STOP_PERIODIC, 500)

    def single_shot(self) -> None:
        self._command(SINGLE_SHOT, 0)

    def data_ready(self) -> bool:
        self._command(DATA_READY, 1)
        try:
            self.i2c.readfrom_into(self.addr, self.ready_buf)
        except OSError as exc:
            raise bus_error(self.name, exc)
        # Datasheet: data is ready when the 11 least significant bits are not all zero.
        return (word(self.ready_buf, 0, self.name) & 0x07FF) != 0

    def read(self) -> tuple:
        if not self.data_ready():
            raise SensorError(self.name, NOT_READY)
        self._command(READ_MEASUREMENT, 1)
        try:
            self.i2c.readfrom_into(self.addr, self.buf)
        except OSError as exc:
            raise bus_error(self.name, exc)
        co2 = word(self.buf, 0, self.name)
        st = word(self.buf, 1, self.name)
        srh = word(self.buf, 2, self.name)
        return co2, -4500 + (17500 * st + 32767) // 65535, (10000 * srh + 32767) // 65535


__all__ = ["SCD4x", "SensorError"]
