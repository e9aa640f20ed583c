"""What every HAL backend provides; drivers and the application see only this."""

class DeepSleep(Exception):
    """Raised by the Unix backend's deep sleep: the runner restarts the app, as a reset would."""


class I2CBus:
    """The subset of machine.I2C that drivers use (memory-style and plain transfers)."""

    def writeto(self, addr: int, buf: bytes | bytearray | memoryview) -> int:
        raise NotImplementedError

    def readfrom_into(self, addr: int, buf: bytearray | memoryview) -> None:
        raise NotImplementedError

    def readfrom_mem_into(self, addr: int, reg: int, buf: bytearray | memoryview) -> None:
        raise NotImplementedError

    def writeto_mem(self, addr: int, reg: int, buf: bytes | bytearray) -> None:
        raise NotImplementedError


class InputPin:
    """A digital input that reads 1 when its condition is true (pressed, motion, wet, open)."""

    def value(self) -> int:
        raise NotImplementedError


class BoardBase:
    """Clock, I2C, pins, ADC, RTC memory, sleep, Wi-Fi, watchdog: one small surface."""

    platform = "base"

    # -- clock -----------------------------------------------------------------------------
    def ticks_ms(self) -> int:
        raise NotImplementedError

    def sleep_ms(self, ms: int) -> None:
        raise NotImplementedError

    def ticks_diff(self, a: int, b: int) -> int:
        """a - b on the wrapping tick counter."""
        raise NotImplementedError

    def ticks_add(self, a: int, delta: int) -> int:
        raise NotImplementedError

    def time(self) -> int:
        """UTC epoch seconds (0-based, not MicroPython's 2000 epoch)."""
        raise NotImplementedError

    def time_ms(self) -> int:
        """UTC epoch milliseconds, for event stamps finer than a second."""
        raise NotImplementedError

    def clock_valid(self) -> bool:
        return self.time() > 1_700_000_000

    def ntp_sync(self) -> bool:
        raise NotImplementedError

    # -- buses and pins --------------------------------------------------------------------
    def i2c(self) -> I2CBus:
        raise NotImplementedError

    def input(self, name: str) -> InputPin:
        raise NotImplementedError

    def battery_mv(self) -> int:
        raise NotImplementedError

    # -- persistence and power -------------------------------------------------------------
    def rtc_memory(self) -> bytes:
        raise NotImplementedError

    def set_rtc_memory(self, data: bytes | bytearray | memoryview) -> None:
        raise NotImplementedError

    def woke_from_deep_sleep(self) -> bool:
        raise NotImplementedError

    def deep_sleep(self, ms: int) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Restart the chip (a firmware update is swapped in by the boot that follows)."""
        raise NotImplementedError

    def light_sleep(self, ms: int) -> None:
        self.sleep_ms(ms)

    def config_path(self) -> str:
        return "config.json"

    def state_path(self, name: str) -> str:
        return name

    # -- network ---------------------------------------------------------------------------
    def wifi_start(self, ssid: str, psk: str) -> None:
        raise NotImplementedError

    def wifi_up(self) -> bool:
        raise NotImplementedError

    def wifi_rssi(self) -> int:
        return 0

    def unique_id(self) -> str:
        raise NotImplementedError

    # -- what the tenant sees and hears (lib/notice.py) --------------------------------------
    def led(self, colour: int, blink_hz: int) -> None:
        """Show a colour (0 off, 1 green, 2 amber, 3 red), steady (0) or blinking; a board with
        no LED shows nothing."""

    def buzzer(self, hz: int) -> None:
        """Sound a tone (0: silence); the caller times beeps. A board with no buzzer is silent."""

    # -- watchdog --------------------------------------------------------------------------
    def wdt_start(self, timeout_ms: int) -> None:
        raise NotImplementedError

    def wdt_feed(self) -> None:
        raise NotImplementedError

    def log(self, *parts: object) -> None:
        print(*parts)

