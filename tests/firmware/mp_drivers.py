# ruff: noqa: UP031, E402  (MicroPython script: %-formatting and path set-up before imports)
"""Run on MicroPython with HOF_FW_SIM set: the drivers against the simulated parts (CRC and
all), their error statuses, and the telecare sampling step under heap_lock (no allocation)."""

import sys

sys.path.insert(0, sys.argv[1])

import micropython
from drivers.adxl345 import ADXL345
from drivers.mpu6050 import MPU6050
from drivers.scd4x import SCD4x
from drivers.sensirion import SensorError, crc8
from drivers.sht3x import SHT3x
from drivers.sht4x import SHT4x
from hal import board


def check(cond: bool, what: str) -> None:
    if not cond:
        print("FAIL", what)
        sys.exit(1)
    print("ok", what)


def code_of(f) -> str:  # type: ignore[no-untyped-def]
    try:
        f()
    except SensorError as exc:
        return exc.code
    return "ok"


b = board()
bus = b.i2c()
check(crc8(b"\xbe\xef", 0, 2) == 0x92, "Sensirion CRC-8 of 0xBEEF is 0x92 (datasheet)")
t, rh = SHT4x(bus, b).measure()
check(abs(t - 2150) <= 1 and abs(rh - 6000) <= 1, "SHT4x 21.5 C 60 %%RH: %d %d" % (t, rh))
t, rh = SHT3x(bus, b, 0x45).measure()
check(abs(t - 1000) <= 1 and abs(rh - 9000) <= 1, "SHT3x 10 C 90 %%RH: %d %d" % (t, rh))
check(code_of(SHT4x(bus, b, 0x46).measure) == "crc", "a corrupted CRC is reported as crc")
check(code_of(SHT3x(bus, b, 0x44).measure) == "failed", "a command the part refuses: failed")
check(code_of(SHT4x(bus, b, 0x40).measure) == "absent", "nothing at the address: absent")
co2 = SCD4x(bus, b)
co2.start_periodic()
check(code_of(co2.read) == "not_ready", "SCD4x before its first 5 s period: not_ready")
b.sleep_ms(5100)
ppm, t, rh = co2.read()
check(ppm == 1234 and abs(t - 2000) <= 1, "SCD4x after 5 s: %d ppm %d" % (ppm, t))
out = [0, 0, 0]
acc = ADXL345(bus)
acc.start()
acc.read(out)
check(
    abs(out[0] - 100) <= 4 and abs(out[1] + 200) <= 4 and abs(out[2] - 980) <= 4, f"ADXL345 {out!r}"
)
mpu = MPU6050(bus)
mpu.start()
mpu.read(out)
check(
    abs(out[0] - 100) <= 1 and abs(out[1] + 200) <= 1 and abs(out[2] - 980) <= 1, f"MPU6050 {out!r}"
)
check(code_of(ADXL345(bus, 0x1D).start) == "absent", "accelerometer not fitted: absent")

from telecare import TelecareNode

cfg = {
    "home": "H",
    "device": "tc-1",
    "kind": "telecare",
    "power": "battery",
    "broker_host": "127.0.0.1",
    "broker_port": 1,
    "username": "H/tc-1",
    "password": "x",
    "fall": {},
    "cancel_s": 10,
    "motion_summary_s": 60,
}
node = TelecareNode(b, cfg)
for _ in range(10):
    node.sample()
micropython.heap_lock()
try:
    for _ in range(500):
        node.sample()
finally:
    micropython.heap_unlock()
check(node.samples == 510, "500 sampling steps (accelerometer, detector, inputs) under heap_lock")

# The watchdog is fed only while the loop samples and the link lives or is within its grace.
node.link_grace_ms = 3000
node.link_down_since = b.ticks_ms()  # the link went down just now
feeds = b.wdt_feeds
node.supervise(node.samples)
check(b.wdt_feeds == feeds + 1, "sampling and link within its grace: fed")
b.sleep_ms(1100)
node.supervise(node.samples)
check(b.wdt_feeds == feeds + 1, "sampling stopped: not fed")
node.sample()
b.sleep_ms(1100)
node.supervise(node.samples)
check(b.wdt_feeds == feeds + 2, "sampling again: fed")
b.sleep_ms(3000)
node.sample()
node.supervise(node.samples)
check(b.wdt_feeds == feeds + 2, "link down beyond its grace: not fed, so the board resets")
print("ALL OK")
