"""Fall detection over the magnitude of acceleration |a|: a four-phase state machine.

    IDLE --|a| < freefall_g--> FREEFALL --lasted freefall_min..max_ms--> IMPACT_WAIT
      ^                            |too short/long, or a pure drop            |
      |<---------------------------'                                          |
      |<----------no |a| > impact_g within impact_window_ms of its start------|
      |                                                                       v
      |<--moving still after settle+lie_timeout_ms---- POST_IMPACT (settle_ms of bounces)
      |                                                  |  then still_ms of lying still:
      |                                                  |  | |a| - 1 g | < still_tol_g and
      |                                                  v  tilted > tilt_deg from upright
    COOLDOWN (cooldown_s) <--------------------------- FALL (update() returns True once)

"Upright" is a slow average of gravity while the wearer moves normally, so a pendant worn
at any angle works. A *pure* free fall (|a| below drop_g for drop_ms: a pendant dropped, not
a person falling, who never leaves the ground so cleanly) is not a fall.
All arithmetic is on small integers in mg (no floats, no allocation): it runs at 50 Hz.
"""

IDLE = 0
FREEFALL = 1
IMPACT_WAIT = 2
POST_IMPACT = 3
COOLDOWN = 4

# Defaults from DOMAIN.md's common threshold design (and the config's "fall" object).
DEFAULTS = {
    "freefall_g": 0.6,
    "freefall_min_ms": 100,
    "freefall_max_ms": 400,
    "drop_g": 0.15,
    "drop_ms": 160,
    "impact_g": 2.5,
    "impact_window_ms": 1000,
    "settle_ms": 1000,
    "still_ms": 2000,
    "still_tol_g": 0.3,
    "lie_timeout_ms": 10000,
    "tilt_deg": 50,
    "cooldown_s": 30,
}
# cos(angle) in thousandths for 0..90 degrees in 5-degree steps: no math module in the loop.
_COS = (1000, 996, 985, 966, 940, 906, 866, 819, 766, 707, 643, 574, 500, 423, 342, 259, 174, 87, 0)


def isqrt(n: int) -> int:
    """Integer square root (Newton), exact for the small values used here."""
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


class FallDetector:
    """Feed update(x, y, z) in mg at `rate_hz`; it returns True once per detected fall."""

    def __init__(self, thresholds: dict | None = None, rate_hz: int = 50) -> None:
        self.period_ms = 1000 // rate_hz
        self.configure(thresholds or {})
        self.state = IDLE
        self.count = 0  # samples in the current phase
        self.low = 0  # samples of pure free fall in this FREEFALL
        self.still = 0  # consecutive still samples after the impact
        # Upright reference: gravity averaged over 16 samples, in mg * 16.
        self.rx = 0
        self.ry = 0
        self.rz = 16000
        self.falls = 0

    def configure(self, t: dict) -> None:
        """Apply thresholds (anything missing keeps its default); values are checked by config."""
        d = dict(DEFAULTS)
        d.update(t)
        p = self.period_ms
        self.ff2 = int(d["freefall_g"] * 1000) ** 2
        self.ff_min = int(d["freefall_min_ms"]) // p
        self.ff_max = int(d["freefall_max_ms"]) // p
        self.drop2 = int(d["drop_g"] * 1000) ** 2
        self.drop_n = int(d["drop_ms"]) // p
        self.imp2 = int(d["impact_g"] * 1000) ** 2
        self.imp_n = int(d["impact_window_ms"]) // p
        self.settle_n = int(d["settle_ms"]) // p
        self.still_n = int(d["still_ms"]) // p
        tol = int(d["still_tol_g"] * 1000)
        self.still_lo2 = (1000 - tol) ** 2
        self.still_hi2 = (1000 + tol) ** 2
        self.lie_n = int(d["lie_timeout_ms"]) // p
        self.cos_tilt = _COS[min(18, max(0, int(d["tilt_deg"]) // 5))]
        self.cool_n = int(d["cooldown_s"]) * 1000 // p

    def _tilted(self, x: int, y: int, z: int) -> bool:
        """True when (x, y, z) points more than tilt_deg away from the upright reference."""
        # Work in centi-g so every product stays a small int on a 32-bit port.
        rx = self.rx // 160
        ry = self.ry // 160
        rz = self.rz // 160
        cx = x // 10
        cy = y // 10
        cz = z // 10
        dot = rx * cx + ry * cy + rz * cz
        norm = isqrt(rx * rx + ry * ry + rz * rz) * isqrt(cx * cx + cy * cy + cz * cz)
        return dot * 1000 < self.cos_tilt * norm

    def update(self, x: int, y: int, z: int) -> bool:
        m2 = x * x + y * y + z * z
        state = self.state
        self.count += 1
        if state == IDLE:
            if m2 < self.ff2:
                self.state = FREEFALL
                self.count = 1
                self.low = 1 if m2 < self.drop2 else 0
            elif self.still_lo2 < m2 < self.still_hi2:
                # Only calm samples teach "upright": walking jolts would smear it.
                self.rx += x - (self.rx >> 4)
                self.ry += y - (self.ry >> 4)
                self.rz += z - (self.rz >> 4)
        elif state == FREEFALL:
            if m2 < self.ff2:
                if m2 < self.drop2:
                    self.low += 1
                if self.count > self.ff_max:
                    self.state = IDLE
            elif self.count - 1 < self.ff_min or self.low >= self.drop_n:
                self.state = IDLE
            else:
                self.state = IMPACT_WAIT
                # count continues from the start of the free fall: the window runs from there
                if m2 > self.imp2:
                    self.state = POST_IMPACT
                    self.count = 0
                    self.still = 0
        elif state == IMPACT_WAIT:
            if m2 > self.imp2:
                self.state = POST_IMPACT
                self.count = 0
                self.still = 0
            elif self.count > self.imp_n:
                self.state = IDLE
        elif state == POST_IMPACT:
            if self.count > self.settle_n:
                if self.still_lo2 < m2 < self.still_hi2 and self._tilted(x, y, z):
                    self.still += 1
                    if self.still >= self.still_n:
                        self.state = COOLDOWN
                        self.count = 0
                        self.falls += 1
                        return True
                else:
                    self.still = 0
                if self.count > self.settle_n + self.lie_n:
                    self.state = IDLE
        elif state == COOLDOWN:
            if self.count >= self.cool_n:
                self.state = IDLE
        return False
