"""Simulated I2C devices and inputs for the Unix port, speaking the real wire protocols.

The drivers cannot tell these from the parts: Sensirion sensors answer commands with
CRC-8-protected words, the accelerometers expose their registers. A JSON script (written by
a test, named by HOF_FW_SIM) sets what the world does, in simulated seconds since start:

    {"time_scale": 1,                          simulated seconds per real second
     "sht4x":  {"temp": [[0, 21.0], [60, 22]], "rh": [[0, 50], [60, 80]]},
     "sht3x":  {...same...}, "surface": {...same, an SHT40-CD1B at 0x46...},
     "scd4x":  {"co2": [[0, 600]]},
     "crc_error": ["sht4x"],                   these answer with a corrupted CRC
     "adxl345": {"trace": "fall.bin"}, or "mpu6050": {...}: int16 x,y,z in mg at 50 Hz,
                                               one sample per read, then the last sample
     "inputs": {"button": [[5.0, 5.3]], "pir": [[t_on, t_off]], "leak": [], "door": []},
     "battery_mv": 3900}
Values between the points of a series are interpolated linearly.

What the device shows (LED, buzzer) is recorded by SimIndicator and logged, one line a change:
`led colour=1 hz=1`, `buzzer hz=2000`, so a test can read what the tenant saw and heard.
"""

import array
import errno

from hal.base import I2CBus


def crc8(data: bytes | bytearray | memoryview, start: int = 0, end: int = -1) -> int:
    """Sensirion CRC-8: polynomial 0x31, initial value 0xFF, no reflection."""
    if end < 0:
        end = len(data)
    crc = 0xFF
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def interpolate(series: list, t: float) -> float:
    """Linear interpolation in a [[t, v], ...] series; flat beyond its ends."""
    if not series:
        return 0.0
    if t <= series[0][0]:
        return float(series[0][1])
    for i in range(1, len(series)):
        t1, v1 = series[i]
        if t <= t1:
            t0, v0 = series[i - 1]
            if t1 == t0:
                return float(v1)
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return float(series[-1][1])


class SimDevice:
    """One device on the simulated bus."""

    def __init__(self, clock, spec: dict, bad_crc: bool = False) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock
        self.spec = spec
        self.bad_crc = bad_crc
        self.out = bytearray(0)

    def now_s(self) -> float:
        return self.clock() / 1000

    def write(self, data: bytes | bytearray | memoryview) -> None:
        raise OSError(errno.EIO)

    def read(self, buf: bytearray | memoryview) -> None:
        if len(self.out) < len(buf):
            raise OSError(errno.EIO)  # a read nothing was prepared for is NACKed
        for i in range(len(buf)):
            buf[i] = self.out[i]
        self.out = bytearray(0)

    def answer_words(self, words: list) -> None:
        out = bytearray(3 * len(words))
        for i, word in enumerate(words):
            out[3 * i] = (word >> 8) & 0xFF
            out[3 * i + 1] = word & 0xFF
            out[3 * i + 2] = crc8(out, 3 * i, 3 * i + 2) ^ (0x5A if self.bad_crc else 0)
        self.out = out

    def read_mem(self, reg: int, buf: bytearray | memoryview) -> None:
        raise OSError(errno.EIO)

    def write_mem(self, reg: int, data: bytes | bytearray | memoryview) -> None:
        raise OSError(errno.EIO)


def _clamp16(x: float) -> int:
    return 0 if x < 0 else 65535 if x > 65535 else int(x + 0.5)


class SimSHT4x(SimDevice):
    """SHT4x: 0xFD measures (high precision), 0x89 reads the serial number, 0x94 resets."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        cmd = data[0]
        t = self.now_s()
        if cmd == 0xFD or cmd == 0xF6 or cmd == 0xE0:
            temp = interpolate(self.spec.get("temp", [[0, 21.0]]), t)
            rh = interpolate(self.spec.get("rh", [[0, 50.0]]), t)
            st = _clamp16((temp + 45) * 65535 / 175)
            srh = _clamp16((rh + 6) * 65535 / 125)
            self.answer_words([st, srh])
        elif cmd == 0x89:
            self.answer_words([0x1234, 0x5678])
        elif cmd == 0x94:
            self.out = bytearray(0)
        else:
            raise OSError(errno.EIO)


class SimSHT3x(SimDevice):
    """SHT3x: 0x2400 single shot, high repeatability, no clock stretching; 0x30A2 resets."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        cmd = (data[0] << 8) | data[1]
        t = self.now_s()
        if cmd == 0x2400:
            temp = interpolate(self.spec.get("temp", [[0, 21.0]]), t)
            rh = interpolate(self.spec.get("rh", [[0, 50.0]]), t)
            self.answer_words([_clamp16((temp + 45) * 65535 / 175), _clamp16(rh * 65535 / 100)])
        elif cmd == 0x30A2 or cmd == 0x3041:
            self.out = bytearray(0)
        elif cmd == 0xF32D:
            self.answer_words([0x0000])
        else:
            raise OSError(errno.EIO)


class SimSCD4x(SimDevice):
    """SCD4x: periodic measurement (a new value every 5 s), single shot, data-ready, read."""

    def __init__(self, clock, spec: dict, bad_crc: bool = False) -> None:  # type: ignore[no-untyped-def]
        super().__init__(clock, spec, bad_crc)
        self.periodic_since = -1.0
        self.single_at = -1.0
        self.last_read = -1.0

    def ready(self) -> bool:
        now = self.now_s()
        if self.single_at >= 0:
            return now - self.single_at >= 5.0
        if self.periodic_since < 0:
            return False
        period = int((now - self.periodic_since) / 5.0)
        return period >= 1 and (self.last_read < 0 or int((self.last_read - self.periodic_since) / 5.0) < period)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        cmd = (data[0] << 8) | data[1]
        now = self.now_s()
        if cmd == 0x21B1:
            self.periodic_since = now
        elif cmd == 0x3F86:
            self.periodic_since = -1.0
        elif cmd == 0x219D:
            self.single_at = now
        elif cmd == 0xE4B8:
            self.answer_words([0x8006 if self.ready() else 0x8000])
        elif cmd == 0xEC05:
            if not self.ready():
                self.answer_words([0, 0, 0])  # the datasheet: a read before ready gives stale data
                return
            self.last_read = now
            self.single_at = -1.0
            co2 = interpolate(self.spec.get("co2", [[0, 600.0]]), now)
            temp = interpolate(self.spec.get("temp", [[0, 21.0]]), now)
            rh = interpolate(self.spec.get("rh", [[0, 50.0]]), now)
            self.answer_words(
                [int(co2), _clamp16((temp + 45) * 65535 / 175), _clamp16(rh * 65535 / 100)]
            )
        elif cmd == 0x3682:
            self.answer_words([0x0001, 0x0002, 0x0003])
        else:
            raise OSError(errno.EIO)


class SimAccel(SimDevice):
    """A recorded acceleration trace (int16 x,y,z in mg at 50 Hz): one sample per data read."""

    def __init__(self, clock, spec: dict) -> None:  # type: ignore[no-untyped-def]
        super().__init__(clock, spec)
        self.regs = bytearray(128)
        self.trace = array.array("h")
        path = spec.get("trace")
        if path:
            with open(path, "rb") as f:
                self.trace = array.array("h", f.read())
        if len(self.trace) < 3:
            self.trace = array.array("h", [0, 0, 1000])
        self.index = 0
        self.reads = 0

    def sample(self, axis: int) -> int:
        return self.trace[self.index + axis]

    def advance(self) -> None:
        self.reads += 1
        if self.index + 3 < len(self.trace):
            self.index += 3

    def write_mem(self, reg: int, data: bytes | bytearray | memoryview) -> None:
        for i in range(len(data)):
            self.regs[reg + i] = data[i]


class SimADXL345(SimAccel):
    """ADXL345 registers: DEVID 0x00 = 0xE5, POWER_CTL 0x2D, DATA_FORMAT 0x31, DATAX0 0x32."""

    def __init__(self, clock, spec: dict) -> None:  # type: ignore[no-untyped-def]
        super().__init__(clock, spec)
        self.regs[0x00] = 0xE5

    def read_mem(self, reg: int, buf: bytearray | memoryview) -> None:
        if reg == 0x32 and len(buf) == 6:
            measuring = self.regs[0x2D] & 0x08
            fmt = self.regs[0x31]
            # full resolution keeps 3.9 mg/LSB at every range; otherwise 10 bits over the range
            lsb_per_g = 256 if fmt & 0x08 else 512 >> (fmt & 0x03)
            for axis in range(3):
                raw = (self.sample(axis) * lsb_per_g) // 1000 if measuring else 0
                buf[2 * axis] = raw & 0xFF
                buf[2 * axis + 1] = (raw >> 8) & 0xFF
            self.advance()
            return
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]


class SimMPU6050(SimAccel):
    """MPU6050 registers: WHO_AM_I 0x75 = 0x68, PWR_MGMT_1 0x6B, ACCEL_CONFIG 0x1C, 0x3B data."""

    def __init__(self, clock, spec: dict) -> None:  # type: ignore[no-untyped-def]
        super().__init__(clock, spec)
        self.regs[0x75] = 0x68
        self.regs[0x6B] = 0x40  # asleep after power-on, as the part is

    def read_mem(self, reg: int, buf: bytearray | memoryview) -> None:
        if reg == 0x3B and len(buf) >= 6:
            awake = not (self.regs[0x6B] & 0x40)
            lsb_per_g = 16384 >> ((self.regs[0x1C] >> 3) & 0x03)
            for axis in range(3):
                raw = (self.sample(axis) * lsb_per_g) // 1000 if awake else 0
                raw = -32768 if raw < -32768 else 32767 if raw > 32767 else raw
                buf[2 * axis] = (raw >> 8) & 0xFF
                buf[2 * axis + 1] = raw & 0xFF
            for i in range(6, len(buf)):
                buf[i] = 0
            self.advance()
            return
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]


class SimI2C(I2CBus):
    """machine.I2C's transfer methods over the simulated devices; absent addresses NACK."""

    def __init__(self, devices: dict) -> None:
        self.devices = devices

    def _dev(self, addr: int) -> SimDevice:
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(errno.ENODEV)
        return dev

    def writeto(self, addr: int, buf: bytes | bytearray | memoryview) -> int:
        self._dev(addr).write(buf)
        return len(buf)

    def readfrom_into(self, addr: int, buf: bytearray | memoryview) -> None:
        self._dev(addr).read(buf)

    def readfrom_mem_into(self, addr: int, reg: int, buf: bytearray | memoryview) -> None:
        self._dev(addr).read_mem(reg, buf)

    def writeto_mem(self, addr: int, reg: int, buf: bytes | bytearray) -> None:
        self._dev(addr).write_mem(reg, buf)


def build_bus(script: dict, clock) -> SimI2C:  # type: ignore[no-untyped-def]
    """The bus the script describes."""
    bad = script.get("crc_error", [])
    devices: dict = {}
    if "sht4x" in script:
        devices[0x44] = SimSHT4x(clock, script["sht4x"], "sht4x" in bad)
    if "sht3x" in script:
        devices[0x45] = SimSHT3x(clock, script["sht3x"], "sht3x" in bad)
    if "surface" in script:
        devices[0x46] = SimSHT4x(clock, script["surface"], "surface" in bad)
    if "scd4x" in script:
        devices[0x62] = SimSCD4x(clock, script["scd4x"], "scd4x" in bad)
    if "adxl345" in script:
        devices[0x53] = SimADXL345(clock, script["adxl345"])
    if "mpu6050" in script:
        devices[0x68] = SimMPU6050(clock, script["mpu6050"])
    return SimI2C(devices)


class SimInput:
    """A digital input that is 1 inside any of its scripted [on, off] windows."""

    def __init__(self, clock, windows: list) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock
        self.on = array.array("i", [int(w[0] * 1000) for w in windows])
        self.off = array.array("i", [int(w[1] * 1000) for w in windows])

    def value(self) -> int:
        now = self.clock()
        for i in range(len(self.on)):
            if self.on[i] <= now < self.off[i]:
                return 1
        return 0


class SimIndicator:
    """The pendant's LED and buzzer on the Unix port: each change recorded with its time."""

    def __init__(self, clock, log) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock
        self.log = log
        self.shown: list = []  # (ms, "led", colour, hz) or (ms, "buzzer", hz, 0); bounded below
        self.colour = 0
        self.blink_hz = 0
        self.tone_hz = 0

    def _record(self, what: str, a: int, b: int) -> None:
        if len(self.shown) >= 256:
            self.shown.pop(0)
        self.shown.append((self.clock(), what, a, b))

    def led(self, colour: int, blink_hz: int) -> None:
        self.colour, self.blink_hz = colour, blink_hz
        self._record("led", colour, blink_hz)
        self.log("led", "colour=%d" % colour, "hz=%d" % blink_hz)

    def buzzer(self, hz: int) -> None:
        if hz == self.tone_hz:
            return
        self.tone_hz = hz
        self._record("buzzer", hz, 0)
        self.log("buzzer", "hz=%d" % hz)
