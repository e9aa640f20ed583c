"""Analog Devices ADXL345 accelerometer, I2C address 0x53, full resolution ±16 g at 50 Hz."""

from drivers.sensirion import ABSENT, SensorError, bus_error

DEVID = 0x00
BW_RATE = 0x2C
POWER_CTL = 0x2D
DATA_FORMAT = 0x31
DATAX0 = 0x32


class ADXL345:
    """`read(out)` fills out[0..2] with x, y, z in mg; allocates nothing."""

    name = "adxl345"

    def __init__(self, i2c, addr: int = 0x53) -> None:  # type: ignore[no-untyped-def]
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(6)
        self.one = bytearray(1)

    def _set(self, reg: int, value: int) -> None:
        self.one[0] = value
        self.i2c.writeto_mem(self.addr, reg, self.one)

    def start(self) -> None:
        try:
            self.i2c.readfrom_mem_into(self.addr, DEVID, self.one)
            if self.one[0] != 0xE5:
                raise SensorError(self.name, ABSENT)
            self._set(BW_RATE, 0x09)  # 50 Hz output rate, 25 Hz bandwidth
            self._set(DATA_FORMAT, 0x0B)  # full resolution (3.9 mg/LSB), ±16 g
            self._set(POWER_CTL, 0x08)  # measure
        except OSError as exc:
            raise bus_error(self.name, exc)

    def read(self, out) -> None:  # type: ignore[no-untyped-def]
        b = self.buf
        self.i2c.readfrom_mem_into(self.addr, DATAX0, b)
        for axis in range(3):
            raw = b[2 * axis] | (b[2 * axis + 1] << 8)
            if raw & 0x8000:
                raw -= 0x10000
            out[axis] = (raw * 1000) >> 8  # 256 LSB/g in full resolution


__all__ = ["ADXL345", "SensorError"]
