"""The telecare node: 50 Hz fall detection with a local cancel window, the help button, PIR
motion summarised per window, leak and door contact; events go out at once on `event`, QoS 1,
one in flight at a time and resent until acknowledged (also across reconnects).

It shows the platform's notices (lib/notice.py); a press while a `check` is showing answers
it with a `checkin` event instead of a help call."""

import array

from drivers.adxl345 import ADXL345
from drivers.mpu6050 import MPU6050
from drivers.sensirion import SensorError
from fall import FallDetector
from lib.ring import ALARM, LIFE, READING, ROUTINE, Outbox
from lib.senml import PackWriter
from node import Node, heap_free

PERIOD_MS = 20  # 50 Hz
INPUT_EVERY = 5  # inputs are polled at 10 Hz: a press lasts far longer than 100 ms
LINK_EVERY = 5
RETRY_MS = 3000
OUTBOX = 48  # 48 events or summaries; a motion summary is dropped first when it is full

# Event kinds (motion summaries go on `reading`, the rest on `event`) and their string values.
FALL, BUTTON, LEAK, CONTACT, MOTION, CHECKIN = 0, 1, 2, 3, 4, 5
NAMES = (b"fall", b"button", b"leak", b"contact", b"motion", b"checkin")
PRIORITY = (LIFE, LIFE, ALARM, ROUTINE, READING, LIFE)
V_FALSE, V_TRUE, V_DETECTED, V_CANCELLED, V_PRESSED = 0, 1, 2, 3, 4
STRINGS = (b"", b"", b"detected", b"cancelled", b"pressed")


class TelecareNode(Node):
    def __init__(self, board, cfg: dict) -> None:  # type: ignore[no-untyped-def]
        super().__init__(board, cfg)
        bus = board.i2c()
        self.accel: ADXL345 | MPU6050 | None = None
        self.accel_status = "absent"
        for candidate in (ADXL345(bus), MPU6050(bus)):
            try:
                candidate.start()
                self.accel = candidate
                self.accel_status = "ok"
                break
            except SensorError:
                pass
        self.detector = FallDetector(cfg["fall"])
        self.xyz = array.array("i", [0, 0, 1000])
        self.button = board.input("button")
        self.pir = board.input("pir")
        self.leak = board.input("leak")
        self.door = board.input("door")
        self.last_inputs = array.array("b", [0, 0, 0, 0])
        self.samples = 0
        self.overruns = 0
        self.cancel_until = 0
        self.fall_pending = False
        self.fall_ms = 0
        self.motion_seen = False
        self.motion_since = 0
        # Events and motion summaries wait here until acknowledged; a full box drops a
        # summary before any event (lib/ring.py), counted on status.
        self.outbox = Outbox(int(cfg.get("outbox", OUTBOX)))
        self.link.status_extra["outbox"] = self.outbox.stats
        self.inflight = 0
        self.sent_at = 0
        self.sent_connects = 0
        self.pack = PackWriter(256)
        self.device = cfg["device"].encode()
        self.events_sent = 0
        self.bytes_published = 0
        self.link.status_extra["sensors"] = {"accel": self.accel_status}
        self.show_notices()

    def apply(self, changes: dict) -> None:
        super().apply(changes)
        if "fall" in changes:
            self.detector.configure(self.cfg["fall"])

    # -- the sampling loop: nothing in here allocates ---------------------------------------

    def sample(self) -> None:
        """One 20 ms tick: accelerometer and detector; inputs every fifth tick."""
        self.samples += 1
        xyz = self.xyz
        if self.accel is not None:
            try:
                self.accel.read(xyz)
            except OSError:
                self.accel_status = "failed"
            if self.detector.update(xyz[0], xyz[1], xyz[2]) and self.cfg["fall"].get("enabled", True):
                self.fall_found()
        if self.samples % INPUT_EVERY == 0:
            self.poll_inputs()

    def poll_inputs(self) -> None:
        last = self.last_inputs
        v = self.button.value()
        if v and not last[0]:
            self.pressed()
        last[0] = v
        v = self.pir.value()
        if v and not last[1]:
            if not self.motion_seen:
                self.motion_seen = True
        last[1] = v
        v = self.leak.value()
        if v != last[2]:
            self.queue(LEAK, V_TRUE if v else V_FALSE)
        last[2] = v
        v = self.door.value()
        if v != last[3]:
            self.queue(CONTACT, V_TRUE if v else V_FALSE)
        last[3] = v

    def fall_found(self) -> None:
        board = self.board
        self.fall_pending = True
        self.fall_ms = board.time_ms()
        self.cancel_until = board.ticks_add(board.ticks_ms(), int(self.cfg["cancel_s"] * 1000))
        board.log("fall", "suspected", "cancel_s=%s" % self.cfg["cancel_s"])

    def pressed(self) -> None:
        if self.fall_pending:
            # The wearer is conscious and says so: the fall is reported as cancelled.
            self.fall_pending = False
            self.queue(FALL, V_CANCELLED)
        elif self.indicator.checking():
            # "Press the button if you are all right": this press is the answer, not a call.
            self.queue(CHECKIN, V_TRUE)
            self.indicator.answered()
        else:
            self.queue(BUTTON, V_PRESSED)

    def queue(self, kind: int, value: int) -> None:
        dropped = self.outbox.push(kind, value, PRIORITY[kind], self.board.time_ms())
        self.board.log("event", NAMES[kind].decode(), value)
        if dropped >= 0:
            self.board.log("outbox", "full", "dropped_priority=%d" % dropped)

    # -- between samples: the cancel window, the motion summary, the outbox, the link ----------

    def service(self) -> None:
        board = self.board
        now = board.ticks_ms()
        if self.fall_pending and board.ticks_diff(now, self.cancel_until) >= 0:
            self.fall_pending = False
            self.queue(FALL, V_DETECTED)
        summary_ms = int(self.cfg["motion_summary_s"] * 1000)
        if board.ticks_diff(now, self.motion_since) >= summary_ms:
            self.queue(MOTION, V_TRUE if self.motion_seen else V_FALSE)
            self.motion_seen = False
            self.motion_since = now
        self.link.step()
        self.send_next()
        self.indicator.step(now)

    def send_next(self) -> None:
        link = self.link
        box = self.outbox
        if self.inflight and link.acked(self.inflight):
            if box.inflight >= 0:
                box.remove(box.inflight)
            self.inflight = 0
        if not box.count or not link.up():
            return
        now = self.board.ticks_ms()
        retry = self.inflight and (
            self.board.ticks_diff(now, self.sent_at) > RETRY_MS or self.sent_connects != link.connects
        )
        if self.inflight and not retry:
            return
        if not retry or box.inflight < 0:
            # Events first: a fall queued behind half an hour of summaries is the next sent.
            retry = False
            box.inflight = box.next_index()
        slot = box.inflight
        kind = box.kind[slot]
        w = self.pack
        w.start(self.device, box.ms[slot])
        value = box.value[slot]
        if value >= V_DETECTED:
            w.string(NAMES[kind], STRINGS[value])
        else:
            w.boolean(NAMES[kind], value == V_TRUE)
        payload = w.finish()
        topic = link.t_reading if kind == MOTION else link.t_event
        pid = link.publish(topic, payload, qos=1, dup=bool(retry), pid=self.inflight if retry else 0)
        if pid > 0:
            self.inflight = pid
            self.sent_at = now
            self.sent_connects = link.connects
            self.events_sent += 1
            self.bytes_published += len(payload)
            self.board.log("publish", NAMES[kind].decode(), "bytes=%d" % len(payload))

    def run(self, max_samples: int = 0) -> None:
        board = self.board
        board.log("boot", "kind=telecare", "heap_free=%d" % heap_free(), "accel=" + self.accel_status)
        board.wdt_start(int(self.cfg.get("wdt_ms", 30000)))
        self.motion_since = board.ticks_ms()
        next_tick = board.ticks_ms()
        report_every = int(self.cfg.get("report_every", 3000))  # once a minute at 50 Hz
        while not max_samples or self.samples < max_samples:
            self.sample()
            if self.samples % LINK_EVERY == 0:
                self.service()
                self.supervise(self.samples)
            if self.samples % report_every == 0:
                board.log(
                    "steady",
                    "samples=%d" % self.samples,
                    "heap_free=%d" % heap_free(),
                    "overruns=%d" % self.overruns,
                    "events=%d" % self.events_sent,
                    "bytes=%d" % self.bytes_published,
                )
            next_tick = board.ticks_add(next_tick, PERIOD_MS)
            delay = board.ticks_diff(next_tick, board.ticks_ms())
            if delay > 0:
                board.sleep_ms(delay)
            elif delay < -200:
                self.overruns += 1  # far behind (a slow connect): resynchronise, do not race
                next_tick = board.ticks_ms()
