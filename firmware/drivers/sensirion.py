"""What every Sensirion driver shares: the CRC-8 of each word, and the error a sensor raises."""

import errno

# Status codes a driver reports: a reader of `status` sees one of these per sensor.
OK = "ok"
ABSENT = "absent"  # no ACK at its address: not fitted, or unplugged
CRC = "crc"  # answered, but a word failed its CRC: wiring, noise or a failing part
NOT_READY = "not_ready"  # no new measurement yet (SCD4x)
FAILED = "failed"  # any other bus error


class SensorError(Exception):
    """A sensor could not give a valid reading; `code` is one of the status codes above."""

    def __init__(self, sensor: str, code: str) -> None:
        super().__init__(sensor + ": " + code)
        self.sensor = sensor
        self.code = code


def crc8(data: bytes | bytearray | memoryview, start: int, end: int) -> int:
    """CRC-8 as Sensirion's datasheets define it: poly 0x31, init 0xFF, no reflection, no XOR."""
    crc = 0xFF
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def word(buf: bytearray, index: int, sensor: str) -> int:
    """The `index`th 16-bit word of an answer, after checking the CRC byte that follows it."""
    i = 3 * index
    if crc8(buf, i, i + 2) != buf[i + 2]:
        raise SensorError(sensor, CRC)
    return (buf[i] << 8) | buf[i + 1]


def bus_error(sensor: str, exc: OSError) -> SensorError:
    """Map an I2C failure to a status: a NACK at the address means the part is not there."""
    code = exc.args[0] if exc.args else 0
    if code == errno.ENODEV or code == errno.ETIMEDOUT:
        return SensorError(sensor, ABSENT)
    return SensorError(sensor, FAILED)
