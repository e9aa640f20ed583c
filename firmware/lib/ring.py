"""The device's bounded buffers: the env node's ring of readings kept in RTC memory across
deep sleep (drops oldest, counts it), and the telecare node's outbox, where a reading is
always dropped before an event and a fall or help call last of all.

Each reading is 16 bytes (struct "<IhHHhHBx"): epoch seconds, temperature (centi-degC),
humidity (centi-%RH), CO2 (ppm), surface temperature (centi-degC), battery (mV), and
a pad byte. A value the node could not read is stored as the field's ABSENT marker.
The ESP32 gives 2 KiB of RTC memory: an 8-byte header and 127 readings, ten hours at 300 s.
"""

import array
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


# Outbox priorities: what is dropped first when it is full, and what is sent first.
READING = 0  # a motion summary: the next window says much the same
ROUTINE = 1  # a door contact
ALARM = 2  # a leak, smoke
LIFE = 3  # a fall, a help call, an answer to a check


class Outbox:
    """Entries (kind, value, priority, epoch ms) waiting to be sent, oldest first.

    Fixed arrays, allocated once. When full, the oldest entry of the lowest priority goes to
    make room, and only if its priority is not above the newcomer's; otherwise the newcomer is
    the one dropped. So readings are dropped first, an event never for a reading, and a fall
    only for a newer event as urgent. Every drop is counted (`dropped_readings`,
    `dropped_events`, reported on status). The entry in flight (`inflight`, its index) may go
    too (then `inflight` is -1, and its PUBACK, if it comes, finds nothing to remove).
    """

    def __init__(self, capacity: int = 48) -> None:
        self.capacity = capacity
        self.kind = array.array("B", bytes(capacity))
        self.value = array.array("B", bytes(capacity))
        self.prio = array.array("B", bytes(capacity))
        self.ms = [0] * capacity
        self.count = 0
        self.inflight = -1
        self.stats = {"dropped_readings": 0, "dropped_events": 0}

    def _victim(self) -> int:
        """The index of the oldest entry of the lowest priority."""
        best = -1
        for i in range(self.count):
            if best < 0 or self.prio[i] < self.prio[best]:
                best = i
        return best

    def _count_drop(self, prio: int) -> None:
        if prio == READING:
            self.stats["dropped_readings"] += 1
        else:
            self.stats["dropped_events"] += 1

    def push(self, kind: int, value: int, prio: int, ms: int) -> int:
        """Queue an entry; the priority of what was dropped to make room, or -1 if nothing."""
        dropped = -1
        if self.count == self.capacity:
            victim = self._victim()
            if victim < 0 or self.prio[victim] > prio:
                self._count_drop(prio)
                return prio  # everything queued matters more than this
            dropped = self.prio[victim]
            self._count_drop(dropped)
            self.remove(victim)
        i = self.count
        self.kind[i] = kind
        self.value[i] = value
        self.prio[i] = prio
        self.ms[i] = ms
        self.count += 1
        return dropped

    def remove(self, i: int) -> None:
        """Forget entry i (sent and acknowledged, or dropped); later entries move up."""
        for j in range(i, self.count - 1):
            self.kind[j] = self.kind[j + 1]
            self.value[j] = self.value[j + 1]
            self.prio[j] = self.prio[j + 1]
            self.ms[j] = self.ms[j + 1]
        self.count -= 1
        if self.inflight == i:
            self.inflight = -1
        elif self.inflight > i:
            self.inflight -= 1

    def next_index(self) -> int:
        """What to send next: the oldest entry of the highest priority (-1 when empty)."""
        best = -1
        for i in range(self.count):
            if best < 0 or self.prio[i] > self.prio[best]:
                best = i
        return best
