"""A small static SVG chart for printed case files: no script, so it prints and saves as PDF
exactly as shown, and carries a title and description for screen readers."""

from __future__ import annotations

import datetime as dt
from html import escape

from dashboard.series import Series

__all__ = ["svg_chart"]

COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 200, 48, 12, 12, 28


def svg_chart(
    series: Series, quantity: str, label: str, unit: str, lines: list[tuple[float, str]]
) -> str:
    """One panel: a polyline per room, dashed threshold lines, day ticks."""
    rooms: list[tuple[str, list[tuple[float, float]]]] = []
    for room, columns in sorted(series.rooms.items()):
        points = zip(columns["time"], columns.get(quantity, []), strict=False)
        rooms.append((room, [(t, v) for t, v in points if t is not None and v is not None]))
    rooms = [(room, pts) for room, pts in rooms if pts]
    title = f"{label} by room over {series.range}"
    if not rooms:
        return ""
    times = [t for _, pts in rooms for t, _ in pts]
    values = [v for _, pts in rooms for _, v in pts] + [v for v, _ in lines]
    t0, t1 = min(times), max(times) or 1
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad

    def x(t: float) -> float:
        return LEFT + (t - t0) / max(t1 - t0, 1) * (W - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM)

    parts = [
        f'<svg class="hof-print-chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="svg-{quantity}-t svg-{quantity}-d" font-family="arial, sans-serif" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="svg-{quantity}-t">{escape(title)}</title>',
        f'<desc id="svg-{quantity}-d">'
        + escape(
            "; ".join(
                f"{r}: {min(v for _, v in p):.1f} to {max(v for _, v in p):.1f} {unit}"
                for r, p in rooms
            )
        )
        + "</desc>",
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
        'fill="none" stroke="#b1b4b6"/>',
    ]
    for tick in (lo + pad, (lo + hi) / 2, hi - pad):
        parts.append(
            f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{tick:.0f}</text>"
        )
    day = 86400
    first_day = (int(t0) // day + 1) * day
    step = day * max(1, int((t1 - t0) / day / 6))
    for t in range(first_day, int(t1) + 1, step):
        stamp = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%-d %b")
        parts.append(
            f'<text x="{x(t):.1f}" y="{H - 8}" font-size="11" text-anchor="middle">{stamp}</text>'
        )
    for value, text in lines:
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#505a5f" stroke-dasharray="4 4"/>'
            f'<text x="{W - RIGHT - 4}" y="{y(value) - 4:.1f}" font-size="11" text-anchor="end">'
            f"{escape(text)}</text>"
        )
    for i, (room, pts) in enumerate(rooms):
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
        )
        parts.append(
            f'<text x="{LEFT + 8 + i * 130}" y="{TOP + 14}" font-size="12" fill="{colour}">'
            f"{escape(room.replace('_', ' '))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
