"""A fixed ring of readings kept in RTC memory across deep sleep: drops oldest, counts it.

Each reading is 16 bytes (struct "<IhHHhHBx"): epoch seconds, temperature (centi-degC),
humidity (centi-%RH), CO2 (ppm), surface temperature (centi-degC), battery (mV), and
a pad byte. A value the node could not read is stored as the field's ABSENT marker.
The ESP32 gives 2 KiB of RTC memory: an 8-byte header and 127 readings, ten hours at 300 s.
"""

import struct

RECORD = "<IhHHhHBx"
SIZE = 16
HEADER = "<HHHH"  # magic, head (index of the oldest), count, discards
MAGIC = 0x4F46
ABSENT_I16 = -32768
ABSENT_U16 = 0xFFFF


class Ring:
    def __init__(self, capacity: int = 127) -> None:
        self.capacity = capacity
        self.buf = bytearray(8 + SIZE * capacity)
        self.head = 0
        self.count = 0
        self.discards = 0

    def load(self, data: bytes) -> bool:
        """Take over what RTC memory held; False (and empty) when it was not ours."""
        if len(data) != len(self.buf):
            return False
        magic, head, count, discards = struct.unpack_from(HEADER, data, 0)
        if magic != MAGIC or head >= self.capacity or count > self.capacity:
            return False
        self.buf[:] = data
        self.head, self.count, self.discards = head, count, discards
        return True

    def image(self) -> bytearray:
        """The bytes to keep in RTC memory."""
        struct.pack_into(HEADER, self.buf, 0, MAGIC, self.head, self.count, self.discards)
        return self.buf

    def push(self, t: int, temp: int, rh: int, co2: int, surface: int, mv: int) -> None:
        if self.count == self.capacity:
            # Full: the oldest reading goes, and the loss is counted (reported in status).
            self.head = (self.head + 1) % self.capacity
            self.count -= 1
            self.discards = (self.discards + 1) & 0xFFFF
        slot = (self.head + self.count) % self.capacity
        struct.pack_into(RECORD, self.buf, 8 + SIZE * slot, t, temp, rh, co2, surface, mv, 0)
        self.count += 1

    def get(self, i: int) -> tuple:
        """The i-th oldest reading as (t, temp, rh, co2, surface, mv, pad)."""
        return struct.unpack_from(RECORD, self.buf, 8 + SIZE * ((self.head + i) % self.capacity))

    def drop(self, n: int) -> None:
        """Forget the n oldest (they have been acknowledged)."""
        n = min(n, self.count)
        self.head = (self.head + n) % self.capacity
        self.count -= n
