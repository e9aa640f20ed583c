"""InvenSense MPU6050 accelerometer (its gyro unused), I2C address 0x68, ±8 g at 50 Hz."""

from drivers.sensirion import ABSENT, SensorError, bus_error

SMPLRT_DIV = 0x19
CONFIG = 0x1A
ACCEL_CONFIG = 0x1C
ACCEL_XOUT_H = 0x3B
PWR_MGMT_1 = 0x6B
WHO_AM_I = 0x75


class MPU6050:
    """`read(out)` fills out[0..2] with x, y, z in mg; allocates nothing."""

    name = "mpu6050"

    def __init__(self, i2c, addr: int = 0x68) -> None:  # type: ignore[no-untyped-def]
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(6)
        self.one = bytearray(1)

    def _set(self, reg: int, value: int) -> None:
        self.one[0] = value
        self.i2c.writeto_mem(self.addr, reg, self.one)

    def start(self) -> None:
        try:
            self.i2c.readfrom_mem_into(self.addr, WHO_AM_I, self.one)
            if self.one[0] != 0x68:
                raise SensorError(self.name, ABSENT)
            self._set(PWR_MGMT_1, 0x01)  # awake, clocked from the X gyro PLL
            self._set(CONFIG, 0x03)  # 44 Hz low-pass
            self._set(SMPLRT_DIV, 19)  # 1 kHz / (1 + 19) = 50 Hz
            self._set(ACCEL_CONFIG, 0x10)  # ±8 g: 4096 LSB/g
        except OSError as exc:
            raise bus_error(self.name, exc)

    def read(self, out) -> None:  # type: ignore[no-untyped-def]
        b = self.buf
        self.i2c.readfrom_mem_into(self.addr, ACCEL_XOUT_H, b)
        for axis in range(3):
            raw = (b[2 * axis] << 8) | b[2 * axis + 1]
            if raw & 0x8000:
                raw -= 0x10000
            out[axis] = (raw * 1000) >> 12  # 4096 LSB/g at ±8 g


__all__ = ["MPU6050", "SensorError"]
