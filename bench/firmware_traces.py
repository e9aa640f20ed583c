"""Synthetic pendant accelerometer traces, in the shape of recorded ones, to test fall detection.

Each trace is int16 little-endian x, y, z in mg at 50 Hz, as the firmware's simulated
ADXL345/MPU6050 plays it back; gravity starts along +z (the pendant upright on its cord).
A trace is built from phases, each a magnitude profile |a|(t) along a direction that turns
from one orientation to another, plus sensor noise (σ 20 mg) and body sway:

- falls (label "fall"): forwards, backwards, sideways: a partial free fall (|a| 0.15-0.5 g for
  0.12-0.35 s) as the body tips, an impact peak (2.8-7 g, 40-100 ms), bounces, then lying
  still at 70-100° from upright. Harder, realistic falls are included on purpose: a slow
  collapse (|a| never below 0.65 g) and a fall onto something soft (impact 1.6-2.3 g); a
  threshold detector is expected to miss those, as published ones do.
- activities (label "adl"): walking, stairs (down and up, peaks to 2.6 g, dips to 0.45 g),
  sitting down hard (dip, 1.8-3.5 g impact, upright), jumping (flight, landing 3-5 g,
  upright), lying down on a bed (slow turn, no impact), and the pendant dropped (a pure free
  fall near 0 g for 0.3-0.5 s, 4-12 g impact, lying at any angle).

The set is seeded, so every run makes the same traces; the figures in docs/firmware.md come
from `.venv/bin/python bench/firmware.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RATE_HZ", "TraceInfo", "generate", "write_set"]

RATE_HZ = 50
Vec = np.ndarray


@dataclass(frozen=True, slots=True)
class TraceInfo:
    name: str
    label: str  # "fall" or "adl"
    kind: str
    seconds: float
    path: Path


def _unit(v: Vec) -> Vec:
    out: Vec = v / np.linalg.norm(v)
    return out


def _turn(a: Vec, b: Vec, n: int) -> Vec:
    """n directions from a to b (normalised linear interpolation, smooth enough at 50 Hz)."""
    w = np.linspace(0.0, 1.0, n)[:, None]
    d = (1 - w) * a + w * b
    out: Vec = d / np.linalg.norm(d, axis=1, keepdims=True)
    return out


class _Builder:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.parts: list[Vec] = []
        self.dir = np.array([0.0, 0.0, 1.0])

    def phase(self, seconds: float, mag: Callable[[Vec], Vec], to: Vec | None = None) -> None:
        n = max(1, round(seconds * RATE_HZ))
        end = self.dir if to is None else _unit(to)
        dirs = _turn(self.dir, end, n)
        t = np.arange(n) / RATE_HZ
        self.parts.append(dirs * mag(t)[:, None] * 1000)
        self.dir = end

    def still(self, seconds: float, to: Vec | None = None) -> None:
        self.phase(seconds, lambda t: np.ones_like(t), to)

    def walk(self, seconds: float, amp: float = 0.3, hz: float = 1.8) -> None:
        phase = self.rng.uniform(0, 2 * np.pi)
        self.phase(seconds, lambda t: 1 + amp * np.sin(2 * np.pi * hz * t + phase))

    def trace(self) -> np.ndarray:
        data = np.concatenate(self.parts)
        data += self.rng.normal(0, 20, data.shape)  # sensor noise, mg
        return np.clip(np.round(data), -16000, 16000).astype("<i2")


def _level(g: float) -> Callable[[Vec], Vec]:
    """A constant |a| of g for a phase."""
    return lambda t: np.full_like(t, g)


def _lying(rng: np.random.Generator, kind: str) -> Vec:
    """Gravity's direction once lying: 70-100° from upright, towards the way of the fall."""
    tilt = np.radians(rng.uniform(70, 100))
    azimuth = {
        "forward": np.pi / 2,
        "backward": -np.pi / 2,
        "sideways": rng.choice([0.0, np.pi]),
    }.get(kind, rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.2)
    return np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)])


def _fall(b: _Builder, kind: str) -> None:
    rng = b.rng
    b.walk(rng.uniform(3, 6))
    end = _lying(rng, kind)
    mid = _unit(b.dir + end)
    if kind == "slow-collapse":
        b.phase(1.2, lambda t: 0.75 + 0.08 * np.sin(7 * t), mid)
        b.phase(0.1, lambda t: np.full_like(t, 1.9), end)
    else:
        low = rng.uniform(0.15, 0.5)
        b.phase(rng.uniform(0.12, 0.35), lambda t: np.full_like(t, low), mid)
        peak = rng.uniform(1.6, 2.3) if kind == "soft-landing" else rng.uniform(2.8, 7.0)
        width = rng.uniform(0.04, 0.1)
        b.phase(width, lambda t: 1 + (peak - 1) * np.sin(np.pi * (t + 0.02) / (width + 0.02)), end)
    b.phase(0.5, lambda t: 1 + 0.5 * np.exp(-6 * t) * np.sin(25 * t))  # bounces, settling
    b.still(rng.uniform(12, 15))


def _adl(b: _Builder, kind: str) -> None:
    rng = b.rng
    if kind == "walking":
        for _ in range(6):
            b.walk(rng.uniform(8, 12), amp=rng.uniform(0.2, 0.4), hz=rng.uniform(1.6, 2.1))
            b.still(rng.uniform(0.5, 2.0), to=_unit(np.array([rng.normal(0, 0.15), 0.0, 1.0])))
    elif kind in ("stairs-down", "stairs-up"):
        hi, lo = (2.6, 0.45) if kind == "stairs-down" else (1.8, 0.6)
        for _ in range(14):
            peak, dip = rng.uniform(hi - 0.6, hi), rng.uniform(lo, lo + 0.15)
            b.phase(0.12, _level(dip))
            b.phase(0.1, _level(peak))
            b.walk(0.4, amp=0.15)
        b.walk(5)
    elif kind == "sit-hard":
        b.walk(rng.uniform(3, 5))
        b.phase(rng.uniform(0.1, 0.25), lambda t: np.full_like(t, rng.uniform(0.45, 0.7)))
        peak = rng.uniform(1.8, 3.5)
        b.phase(0.08, lambda t: np.full_like(t, peak))
        lean = np.radians(rng.uniform(5, 30))
        b.still(12, to=np.array([0.0, -np.sin(lean), np.cos(lean)]))
    elif kind == "jump":
        b.walk(3)
        b.phase(rng.uniform(0.25, 0.35), lambda t: np.full_like(t, rng.uniform(0.0, 0.2)))
        b.phase(0.08, lambda t: np.full_like(t, rng.uniform(3.0, 5.0)))
        b.walk(8)
    elif kind == "lie-down":
        b.walk(3)
        b.phase(2.5, lambda t: 1 + 0.1 * np.sin(3 * t), to=_lying(rng, "sideways"))
        b.still(15)
    elif kind == "dropped":
        b.walk(3)
        b.phase(rng.uniform(0.3, 0.5), lambda t: np.full_like(t, rng.uniform(0.0, 0.08)))
        b.phase(0.04, lambda t: np.full_like(t, rng.uniform(4.0, 12.0)))
        b.phase(0.4, lambda t: 1 + 1.5 * np.exp(-8 * t) * np.sin(40 * t), to=_lying(rng, "any"))
        b.still(15)
    else:
        raise ValueError(kind)


FALLS = {"forward": 15, "backward": 15, "sideways": 15, "slow-collapse": 5, "soft-landing": 5}
ADLS = {
    "walking": 40,
    "stairs-down": 30,
    "stairs-up": 20,
    "sit-hard": 20,
    "jump": 10,
    "lie-down": 10,
    "dropped": 20,
}


def generate(kind: str, seed: int) -> np.ndarray:
    """One trace of `kind` (a key of FALLS or ADLS) as an (n, 3) int16 array in mg."""
    b = _Builder(np.random.default_rng(seed))
    (_fall if kind in FALLS else _adl)(b, kind)
    return b.trace()


def write_set(out: Path, seed: int = 2026) -> list[TraceInfo]:
    """Write the whole set (and manifest.json) under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    made: list[TraceInfo] = []
    n = 0
    for label, table in (("fall", FALLS), ("adl", ADLS)):
        for kind, count in table.items():
            for i in range(count):
                n += 1
                data = generate(kind, seed * 1000 + n)
                path = out / f"{kind}-{i:02d}.bin"
                path.write_bytes(data.tobytes())
                made.append(TraceInfo(path.stem, label, kind, len(data) / RATE_HZ, path))
    manifest = [
        {
            "name": t.name,
            "label": t.label,
            "kind": t.kind,
            "seconds": t.seconds,
            "path": str(t.path),
        }
        for t in made
    ]
    (out / "manifest.json").write_text(json.dumps(manifest))
    return made
