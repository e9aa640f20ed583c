"""HAL backend for the ESP32: machine, network and esp32, and nothing else touches them."""

import machine
import network
import time

# Pins of the reference board (ESP32-DevKitC); a device's config may name others under "pins".
DEFAULT_PINS = {
    "sda": 21,
    "scl": 22,
    "button": 0,
    "pir": 27,
    "leak": 26,
    "door": 25,
    "vbat": 35,
    "led_red": 32,
    "led_green": 33,
    "buzzer": 4,
}
# The contract's epoch is 1970-01-01; MicroPython ports count from 2000-01-01 unless built
# with MICROPY_EPOCH_IS_1970: ask the port rather than assume.
EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


class ActivePin:
    """A digital input with its active level: reads 1 when pressed, wet, open or moving."""

    def __init__(self, pin: machine.Pin, active_low: bool) -> None:
        self.pin = pin
        self.active_low = active_low

    def value(self) -> int:
        v = self.pin.value()
        return (1 - v) if self.active_low else v


class Board:
    """The ESP32 board (see hal/base.py for the contract of each method)."""

    platform = "esp32"

    def __init__(self, pins: dict | None = None) -> None:
        self.pins = dict(DEFAULT_PINS)
        if pins:
            self.pins.update(pins)
        self._i2c: machine.I2C | None = None
        self._wlan: network.WLAN | None = None
        self._wdt: machine.WDT | None = None
        self._inputs: dict = {}
        self._adc: machine.ADC | None = None
        self._rtc = machine.RTC()
        self._pwm: dict = {}

    # The HAL keeps ticks as plain ints; the stubs' _Ticks types are only a tag.
    def ticks_ms(self) -> int:
        return time.ticks_ms()  # type: ignore[return-value]

    def ticks_diff(self, a: int, b: int) -> int:
        return time.ticks_diff(a, b)  # type: ignore[type-var]

    def ticks_add(self, a: int, delta: int) -> int:
        return time.ticks_add(a, delta)  # type: ignore[type-var,return-value]

    def sleep_ms(self, ms: int) -> None:
        time.sleep_ms(ms)

    def time(self) -> int:
        return int(time.time()) + EPOCH_OFFSET

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000 + EPOCH_OFFSET * 1000

    def clock_valid(self) -> bool:
        return self.time() > 1_700_000_000

    def ntp_sync(self) -> bool:
        import ntptime

        try:
            ntptime.settime()
            return True
        except OSError:
            return False

    def i2c(self) -> machine.I2C:
        if self._i2c is None:
            self._i2c = machine.I2C(
                0, scl=machine.Pin(self.pins["scl"]), sda=machine.Pin(self.pins["sda"]), freq=100_000
            )
        return self._i2c

    def input(self, name: str) -> ActivePin:
        pin = self._inputs.get(name)
        if pin is None:
            # The button and pull cord close to ground; the PIR, leak probe and reed switch drive high.
            active_low = name in ("button", "door")
            pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN
            pin = ActivePin(machine.Pin(self.pins[name], machine.Pin.IN, pull), active_low)
            self._inputs[name] = pin
        return pin

    def battery_mv(self) -> int:
        if self._adc is None:
            self._adc = machine.ADC(machine.Pin(self.pins["vbat"]))
            self._adc.atten(machine.ADC.ATTN_11DB)
        # The reference board halves the battery voltage with a 100k/100k divider.
        return self._adc.read_uv() * 2 // 1000

    def rtc_memory(self) -> bytes:
        return self._rtc.memory()

    def set_rtc_memory(self, data: bytes | bytearray | memoryview) -> None:
        self._rtc.memory(bytes(data))

    def woke_from_deep_sleep(self) -> bool:
        return machine.reset_cause() == machine.DEEPSLEEP_RESET

    def deep_sleep(self, ms: int) -> None:
        machine.deepsleep(ms)

    def light_sleep(self, ms: int) -> None:
        machine.lightsleep(ms)

    def config_path(self) -> str:
        return "/config.json"

    def state_path(self, name: str) -> str:
        return "/" + name

    def wifi_start(self, ssid: str, psk: str) -> None:
        if self._wlan is None:
            self._wlan = network.WLAN(network.STA_IF)
            self._wlan.active(True)
        if not self._wlan.isconnected():
            try:
                self._wlan.connect(ssid, psk)
            except OSError:
                pass  # already connecting: the caller polls wifi_up() and backs off

    def wifi_up(self) -> bool:
        return self._wlan is not None and self._wlan.isconnected()

    def wifi_rssi(self) -> int:
        try:
            return int(self._wlan.status("rssi")) if self._wlan else 0
        except (OSError, ValueError):
            return 0

    def unique_id(self) -> str:
        return "".join("%02x" % b for b in machine.unique_id()[-3:])

    def _drive(self, name: str, hz: int, duty_u16: int) -> None:
        """A pin steady (hz 0: on when duty_u16, else off) or square-wave at hz, by LEDC PWM,
        so a blink or a tone costs the sampling loop nothing."""
        pwm = self._pwm.pop(name, None)
        if pwm is not None:
            pwm.deinit()
        pin = machine.Pin(self.pins[name], machine.Pin.OUT)
        if hz > 0 and duty_u16:
            self._pwm[name] = machine.PWM(pin, freq=hz, duty_u16=duty_u16)
        else:
            pin.value(1 if duty_u16 else 0)

    def led(self, colour: int, blink_hz: int) -> None:
        # A red/green LED: amber is both.
        red = colour in (2, 3)
        green = colour in (1, 2)
        self._drive("led_red", blink_hz, 32768 if red else 0)
        self._drive("led_green", blink_hz, 32768 if green else 0)

    def buzzer(self, hz: int) -> None:
        self._drive("buzzer", hz, 32768 if hz else 0)  # a passive piezo wants a square wave

    def wdt_start(self, timeout_ms: int) -> None:
        self._wdt = machine.WDT(timeout=timeout_ms)

    def reset(self) -> None:
        machine.reset()

    def wdt_feed(self) -> None:
        if self._wdt is not None:
            self._wdt.feed()

    def log(self, *parts: object) -> None:
        print(*parts)
