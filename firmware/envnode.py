"""The environmental node: reads its sensors every interval_s, keeps readings in the RTC ring
until acknowledged, publishes them as SenML on `reading`, and sleeps between."""

import gc

from drivers.scd4x import SCD4x
from drivers.sensirion import ABSENT, NOT_READY, OK, SensorError
from drivers.sht3x import SHT3x
from drivers.sht4x import SHT4x
from lib.ring import ABSENT_I16, ABSENT_U16, Ring
from lib.senml import PackWriter
from node import Node, heap_free

READINGS_PER_PACK = 6  # ~230 bytes each: a pack stays under 1.5 KiB


class EnvNode(Node):
    def __init__(self, board, cfg: dict) -> None:  # type: ignore[no-untyped-def]
        super().__init__(board, cfg)
        self.battery = cfg["power"] == "battery"
        self.ring = Ring(int(cfg.get("buffer", 127)))
        if board.woke_from_deep_sleep() or cfg.get("keep_buffer", True):
            self.ring.load(board.rtc_memory())
        bus = board.i2c()
        self.air: SHT4x | SHT3x = SHT4x(bus, board)
        self.surface = SHT4x(bus, board, 0x46, "surface")
        self.co2 = SCD4x(bus, board)
        self.sensors = {"sht4x": ABSENT, "surface": ABSENT, "scd4x": ABSENT}
        self._probe()
        self.pack = PackWriter(1536)
        self.device = cfg["device"].encode()
        self.bytes_published = 0
        self.publishes = 0
        self.cycles = 0

    def _probe(self) -> None:
        """Find what is fitted: SHT4x at 0x44, else SHT3x at 0x45; SCD4x; a surface probe."""
        try:
            self.air.measure()
            self.sensors["sht4x"] = OK
        except SensorError as exc:
            if exc.code == ABSENT:
                alt = SHT3x(self.air.i2c, self.board)
                try:
                    alt.measure()
                    self.air = alt
                    del self.sensors["sht4x"]
                    self.sensors["sht3x"] = OK
                except SensorError as exc2:
                    self.sensors["sht4x"] = exc2.code
            else:
                self.sensors["sht4x"] = exc.code
        try:
            self.surface.measure()
            self.sensors["surface"] = OK
        except SensorError as exc:
            self.sensors["surface"] = exc.code
        try:
            if not self.battery:
                self.co2.start_periodic()
            self.co2.data_ready()
            self.sensors["scd4x"] = OK
        except SensorError as exc:
            self.sensors["scd4x"] = exc.code

    def _set(self, name: str, code: str) -> None:
        self.sensors[name] = code

    def read(self) -> None:
        """Take one reading into the ring; a sensor that fails is absent from this reading."""
        temp, rh, co2, surface = ABSENT_I16, ABSENT_U16, ABSENT_U16, ABSENT_I16
        name = self.air.name
        try:
            temp, rh = self.air.measure()
            self._set(name, OK)
        except SensorError as exc:
            self._set(name, exc.code)
        if self.sensors["surface"] != ABSENT:
            try:
                surface = self.surface.measure()[0]
                self._set("surface", OK)
            except SensorError as exc:
                self._set("surface", exc.code)
        if self.sensors["scd4x"] != ABSENT:
            try:
                if self.battery:
                    self.co2.single_shot()
                    self.board.sleep_ms(5000)  # the SCD41's single shot takes 5 s
                co2 = self.co2.read()[0]
                self._set("scd4x", OK)
            except SensorError as exc:
                if exc.code != NOT_READY:
                    self._set("scd4x", exc.code)
        mv = self.board.battery_mv() if self.battery else 0
        self.ring.push(self.board.time(), temp, rh, co2, surface, mv)
        self.board.set_rtc_memory(self.ring.image())

    def _build(self, n: int) -> memoryview:
        w = self.pack
        t0 = self.ring.get(0)[0]
        w.start(self.device, t0 * 1000)
        for i in range(n):
            t, temp, rh, co2, surface, mv, _ = self.ring.get(i)
            dt = (t - t0) * 1000
            if temp != ABSENT_I16:
                w.number(b"temperature", b"Cel", temp, 2, dt)
            if rh != ABSENT_U16:
                w.number(b"humidity", b"%RH", rh, 2, dt)
            if co2 != ABSENT_U16:
                w.number(b"co2", b"ppm", co2, 0, dt)
            if surface != ABSENT_I16:
                w.number(b"surface_temperature", b"Cel", surface, 2, dt)
            if mv:
                w.number(b"voltage", b"V", mv, 3, dt)
        return w.finish()

    def flush(self) -> int:
        """Send what the ring holds, oldest first, dropping each pack once acknowledged."""
        sent = 0
        while self.ring.count and self.link.up():
            n = min(self.ring.count, READINGS_PER_PACK)
            payload = self._build(n)
            if self.pack.count == 0:
                self.ring.drop(n)  # readings with no valid value: nothing to say
                continue
            pid = self.link.publish(self.link.t_reading, payload, qos=1)
            if pid < 0 or not self.link.wait_ack(pid, 5000):
                break
            self.ring.drop(n)
            self.board.set_rtc_memory(self.ring.image())
            self.bytes_published += len(payload)
            self.publishes += 1
            sent += n
            self.board.log("publish", "readings=%d" % n, "bytes=%d" % len(payload))
        return sent

    def _status_extra(self) -> bool:
        extra = self.link.status_extra
        before = (extra.get("sensors"), extra.get("discards"))
        extra["sensors"] = dict(self.sensors)
        extra["discards"] = self.ring.discards
        return before != (extra["sensors"], extra["discards"])

    def run(self) -> None:
        board = self.board
        board.log("boot", "kind=env", "heap_free=%d" % heap_free(), "buffered=%d" % self.ring.count)
        if not self.battery:
            board.wdt_start(int(self.cfg.get("wdt_ms", 30000)))
        while True:
            start = board.ticks_ms()
            self.read()
            changed = self._status_extra()
            if self.battery:
                # Awake only as long as needed: a few tries, a moment for the retained config.
                while not self.link.step() and board.ticks_diff(board.ticks_ms(), start) < 10000:
                    board.sleep_ms(5)
                # The retained config follows the SUBACK: wait for that, then a moment more.
                t = board.ticks_ms()
                while self.link.up() and board.ticks_diff(board.ticks_ms(), t) < 1000:
                    self.link.step()
                    if self.link.subscribed:
                        break
                    board.sleep_ms(5)
                board.sleep_ms(20)
                self.link.step()
            else:
                self.link.step()
            if changed and self.link.up():
                self.link.publish_status()
            self.flush()
            self.cycles += 1
            awake = board.ticks_diff(board.ticks_ms(), start)
            board.log(
                "cycle",
                "n=%d" % self.cycles,
                "awake_ms=%d" % awake,
                "buffered=%d" % self.ring.count,
                "discards=%d" % self.ring.discards,
                "heap_free=%d" % heap_free(),
                "bytes=%d" % self.bytes_published,
                "publishes=%d" % self.publishes,
            )
            interval_ms = int(self.cfg["interval_s"] * 1000)
            if self.battery:
                self.link.disconnect()
                board.set_rtc_memory(self.ring.image())
                board.deep_sleep(max(100, interval_ms - awake))
            while board.ticks_diff(board.ticks_ms(), start) < int(self.cfg["interval_s"] * 1000):
                self.link.step()
                if not self.battery:
                    self.supervise(self.cycles * 1000 + board.ticks_ms() // 1000)
                board.sleep_ms(50)
            gc.collect()
