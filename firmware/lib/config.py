"""The device's config: its file from provisioning, and the retained MQTT config checked key
by key. A config with any bad value is refused whole, and the reason is reported on status."""

import json

import fall

FW_VERSION = "0.1.0"
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

# Remote fall thresholds: name -> (lowest, highest) accepted.
FALL_RANGES = {
    "freefall_g": (0.1, 0.9),
    "freefall_min_ms": (20, 1000),
    "freefall_max_ms": (40, 2000),
    "drop_g": (0.0, 0.5),
    "drop_ms": (20, 2000),
    "impact_g": (1.2, 16.0),
    "impact_window_ms": (100, 5000),
    "settle_ms": (0, 5000),
    "still_ms": (500, 20000),
    "still_tol_g": (0.05, 0.8),
    "lie_timeout_ms": (1000, 60000),
    "tilt_deg": (10, 90),
    "cooldown_s": (0, 600),
}


class ConfigError(Exception):
    """A config value the device will not apply; str() is the reason reported on status."""


def valid_id(s: object) -> bool:
    if not isinstance(s, str) or not 0 < len(s) <= 64 or s[0] in "_.-":
        return False
    for ch in s:
        if ch not in ID_CHARS:
            return False
    return True


def _number(obj: dict, key: str, lo: float, hi: float) -> float:
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ConfigError("%s must be a number in %s..%s" % (key, lo, hi))
    return v


def load_file(path: str) -> dict:
    """The device's own config file, as `hof provision` wrote it."""
    with open(path) as f:
        cfg = json.load(f)
    for key in ("home", "device", "broker_host", "broker_port", "username", "password"):
        if key not in cfg:
            raise ConfigError("config file lacks " + key)
    if not valid_id(cfg["home"]) or not valid_id(cfg["device"]):
        raise ConfigError("home or device id is not a contract id")
    if not cfg["password"]:
        raise ConfigError("no password: every device has its own (never a default)")
    cfg.setdefault("kind", "env")
    cfg.setdefault("power", "mains")
    cfg.setdefault("interval_s", 300)
    cfg.setdefault("fall", {})
    cfg.setdefault("motion_summary_s", 60)
    cfg.setdefault("cancel_s", 10)
    cfg.setdefault("keepalive_s", 60)
    cfg.setdefault("room", None)
    if cfg.get("tls"):
        # TLS is never optional once named: without its CA the device refuses to start.
        ca = cfg.get("ca_file")
        if not isinstance(ca, str) or not ca:
            raise ConfigError("tls is on but the config names no ca_file")
        if not ca.startswith("/") and "/" in path:
            ca = path[: path.rfind("/") + 1] + ca  # beside the config file
        try:
            open(ca, "rb").close()
        except OSError:
            raise ConfigError("tls is on but ca_file %s cannot be read" % ca)
        cfg["ca_file"] = ca
    return cfg


def check_remote(msg: dict, device: str) -> dict:
    """The changes a retained config asks for, or ConfigError saying why it is refused.

    Unknown keys are ignored (CONTRACT.md: devices apply the keys they know)."""
    if not isinstance(msg, dict):
        raise ConfigError("config is not a JSON object")
    out: dict = {}
    if "interval_s" in msg:
        out["interval_s"] = _number(msg, "interval_s", 1, 86400)
    if "motion_summary_s" in msg:
        out["motion_summary_s"] = _number(msg, "motion_summary_s", 1, 86400)
    if "cancel_s" in msg:
        out["cancel_s"] = _number(msg, "cancel_s", 0, 60)
    if "rooms" in msg:
        rooms = msg["rooms"]
        if not isinstance(rooms, dict):
            raise ConfigError("rooms must be an object")
        if device in rooms:
            if not valid_id(rooms[device]):
                raise ConfigError("room must be an id of letters, digits, _ . -")
            out["room"] = rooms[device]
    if "fall" in msg:
        f = msg["fall"]
        if not isinstance(f, dict):
            raise ConfigError("fall must be an object")
        checked: dict = {}
        for key in f:
            if key == "enabled":
                if not isinstance(f[key], bool):
                    raise ConfigError("fall.enabled must be true or false")
                checked[key] = f[key]
            elif key in FALL_RANGES:
                lo, hi = FALL_RANGES[key]
                checked[key] = _number(f, key, lo, hi)
        merged = dict(fall.DEFAULTS)
        merged.update(checked)
        if merged["freefall_min_ms"] >= merged["freefall_max_ms"]:
            raise ConfigError("fall.freefall_min_ms must be below freefall_max_ms")
        if merged["impact_g"] <= merged["freefall_g"]:
            raise ConfigError("fall.impact_g must be above freefall_g")
        out["fall"] = checked
    return out


def save_overlay(path: str, applied: dict) -> None:
    """Keep what the platform set, so a reboot or a wake-up starts with it."""
    with open(path, "w") as f:
        json.dump(applied, f)


def load_overlay(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
