"""Notices from the platform (or the home gateway) shown to the tenant: parsed defensively,
one LED pattern and sound per state (CONTRACT.md, Notice), played without blocking.

    acknowledged       slow green pulse, two short beeps   help is on the way
    raised             amber, one beep                     the call has reached the platform
    escalated          slow amber pulse, one beep          still looking for someone
    check              amber blink, a chime every 15 s     "press the button if you are all right"
    escalated-locally  green blink, two short beeps        the gateway reached a local route
    escalation-failed  red, three long beeps               no route took the call
    queued             slow amber pulse, silent            it will go when the internet returns
    resolved           off

A check stays until it is answered (a press), replaced by another notice, or CHECK_MAX_MS
passes; the chime is bounded too. A notice that is too large, not JSON, not an object, or
names a state this firmware does not know is refused with a reason, never shown.
"""

import json

MAX_BYTES = 512  # a notice is a short object; the contract's largest is well under 200 bytes
ALERT_MAX = 64
CHECK_MAX_MS = 30 * 60 * 1000
ANSWERED_MS = 10_000
TONE_HZ = 2000

# LED colours the HAL shows (hal/base.py)
OFF, GREEN, AMBER, RED = 0, 1, 2, 3

# Sounds: tone and silence durations in ms, alternately, starting with a tone.
NONE: tuple = ()
BEEP1 = (200,)
BEEP2 = (120, 120, 120)
CHIME = (400, 200, 400)
LONG3 = (600, 300, 600, 300, 600)

# state -> (colour, blink Hz (0 = steady), sound, repeat the sound every ms (0 = once))
STATES = {
    "raised": (AMBER, 0, BEEP1, 0),
    "acknowledged": (GREEN, 1, BEEP2, 0),
    "escalated": (AMBER, 1, BEEP1, 0),
    "check": (AMBER, 2, CHIME, 15_000),
    "escalated-locally": (GREEN, 2, BEEP2, 0),
    "escalation-failed": (RED, 0, LONG3, 0),
    "queued": (AMBER, 1, NONE, 0),
    "resolved": (OFF, 0, NONE, 0),
}


class NoticeError(Exception):
    """A notice the device will not show; str() is the reason it logs."""


def parse(raw: bytes) -> tuple:
    """(state, alert id) from a notice payload, or NoticeError saying why not."""
    if len(raw) > MAX_BYTES:
        raise NoticeError("too large: %d bytes" % len(raw))
    try:
        msg = json.loads(raw)
    except Exception:  # ValueError, or a UnicodeError from bad bytes: either way not JSON
        raise NoticeError("not JSON") from None
    if not isinstance(msg, dict):
        raise NoticeError("not a JSON object")
    state = msg.get("state")
    if not isinstance(state, str) or state not in STATES:
        raise NoticeError("unknown state")
    alert = msg.get("alert", "")
    if not isinstance(alert, str) or len(alert) > ALERT_MAX:
        raise NoticeError("alert must be a short string")
    return state, alert


class Indicator:
    """What the device is showing now; `step` plays the sound between samples."""

    def __init__(self, board) -> None:  # type: ignore[no-untyped-def]
        self.board = board
        self.state = ""
        self.alert = ""
        self.shown_at = 0
        self.until_ms = 0  # show for at most this long (0: until the next notice)
        self.sound: tuple = NONE
        self.repeat_ms = 0
        self.step_i = 0
        self.step_at = 0
        self.playing = False

    def show(self, state: str, alert: str) -> None:
        colour, hz, sound, repeat = STATES[state]
        now = self.board.ticks_ms()
        self.state = state
        self.alert = alert
        self.shown_at = now
        self.until_ms = CHECK_MAX_MS if state == "check" else 0
        self.board.led(colour, hz)
        self._play(sound, repeat, now)
        self.board.log("notice", state, "alert=" + alert)

    def answered(self) -> None:
        """The tenant pressed while a check was showing: steady green and a beep, briefly."""
        now = self.board.ticks_ms()
        self.state = "answered"
        self.shown_at = now
        self.until_ms = ANSWERED_MS
        self.board.led(GREEN, 0)
        self._play(BEEP1, 0, now)
        self.board.log("notice", "answered", "alert=" + self.alert)

    def checking(self) -> bool:
        """A check is showing and waits for the tenant's press."""
        return self.state == "check"

    def _play(self, sound: tuple, repeat_ms: int, now: int) -> None:
        self.sound = sound
        self.repeat_ms = repeat_ms
        self.step_i = 0
        self.step_at = now
        if self.playing:
            self.board.buzzer(0)
            self.playing = False

    def step(self, now: int) -> None:
        """Advance the sound and end a display whose time is up; never waits."""
        board = self.board
        if self.until_ms and board.ticks_diff(now, self.shown_at) >= self.until_ms:
            board.log("notice", "expired", self.state)
            self.state = ""
            self.until_ms = 0
            board.led(OFF, 0)
            self._play(NONE, 0, now)
            return
        if not self.sound or board.ticks_diff(now, self.step_at) < 0:
            return
        if self.step_i < len(self.sound):
            tone = self.step_i % 2 == 0
            board.buzzer(TONE_HZ if tone else 0)
            self.playing = tone
            self.step_at = board.ticks_add(now, self.sound[self.step_i])
            self.step_i += 1
            return
        if self.playing:
            board.buzzer(0)
            self.playing = False
        if self.repeat_ms:
            self.step_i = 0
            self.step_at = board.ticks_add(now, self.repeat_ms)
        else:
            self.sound = NONE
