"""Charts as inline SVG, drawn on the server: no JavaScript library, no CDN.

Pure functions from points to markup. Every chart has a <title> and a text
description for screen readers, and the pages show the same numbers in tables.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44


def fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


def path_d(points: Sequence[tuple[float, float]]) -> str:
    """An SVG path through pixel points: 'M x y L x y ...' ('' for no points)."""
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f} {y:.1f}" for i, (x, y) in enumerate(points))


def scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    """A linear map of [lo, hi] onto [out_lo, out_hi]; a flat range maps to the middle."""
    if hi == lo:
        middle = (out_lo + out_hi) / 2
        return lambda _value: middle
    return lambda value: out_lo + (value - lo) * (out_hi - out_lo) / (hi - lo)


def pareto_front(
    points: Sequence[tuple[float, float, str]], *, higher_is_better: bool
) -> list[tuple[float, float, str]]:
    """The points no other point beats on both cost (x, lower is better) and score (y)."""
    sign = 1.0 if higher_is_better else -1.0
    front: list[tuple[float, float, str]] = []
    best = None
    for point in sorted(points, key=lambda p: (p[0], -sign * p[1])):
        if best is None or sign * point[1] > best:
            front.append(point)
            best = sign * point[1]
    return front


Bounds = tuple[float | None, float | None]


def nice_ticks(
    lo: float, hi: float, *, bounds: Bounds = (None, None), count: int = 5
) -> tuple[list[float], int]:
    """Round, distinct tick values covering [lo, hi], and the decimals that tell them apart.

    The axis gets a little room around the data but never leaves ``bounds`` (the metric's
    possible scores) when the data lies inside them. Returns (ticks, decimals); the first
    and last tick are the axis ends.
    """
    b_lo, b_hi = bounds
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 0.5
    a_lo, a_hi = lo - pad, hi + pad
    if b_lo is not None and lo >= b_lo:
        a_lo = max(a_lo, b_lo)
    if b_hi is not None and hi <= b_hi:
        a_hi = min(a_hi, b_hi)
    raw = (a_hi - a_lo) / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(a_lo / step + 1e-9) * step
    last = math.ceil(a_hi / step - 1e-9) * step
    if b_lo is not None and lo >= b_lo:
        first = max(first, b_lo)
    if b_hi is not None and hi <= b_hi:
        last = min(last, b_hi)
    n = round((last - first) / step)
    ticks = [first + i * step for i in range(n + 1)]
    if ticks[-1] < last - step * 1e-6:
        ticks.append(last)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if f"{step:.{decimals}f}" != f"{step:.{decimals + 1}f}".rstrip("0").rstrip("."):
        decimals += 1  # steps like 0.25
    return ticks, decimals


def _frame(title: str, description: str, body: list[str], height: int = HEIGHT) -> SafeString:
    return mark_safe(  # noqa: S308 - every text below went through escape()
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>"
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{height - TOP - BOTTOM}"/>' + "".join(body) + "</svg>"
    )


def _axes(
    y_ticks: list[float],
    y_decimals: int,
    y_of: Callable[[float], float],
    x_ticks: list[tuple[float, str]],
    x_label: str,
    y_label: str,
) -> list[str]:
    parts = []
    for value in y_ticks:
        y = y_of(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(f'{value:.{y_decimals}f}')}</text>"
        )
    for x, label in x_ticks:
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<text class="axis" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="axis" transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    return parts


def _dot(x: float, y: float, label: str, css: str = "dot") -> str:
    return (
        f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="4">'
        f"<title>{escape(label)}</title></circle>"
    )


def score_over_time_svg(
    points: Sequence[tuple[dt.datetime, float, str]],
    *,
    higher_is_better: bool,
    score_range: Bounds = (None, None),
) -> SafeString:
    """Every scored submission as a dot, and the team's best score so far as a step line.

    The score axis stays inside ``score_range`` (the metric's possible scores)."""
    if not points:
        return mark_safe("")
    points = sorted(points)
    times = [p[0].timestamp() for p in points]
    scores = [p[1] for p in points]
    x_lo, x_hi = min(times), max(times)
    y_ticks, decimals = nice_ticks(min(scores), max(scores), bounds=score_range)
    x_of = scale(x_lo, x_hi, LEFT + 12, WIDTH - RIGHT - 12)
    y_of = scale(y_ticks[0], y_ticks[-1], HEIGHT - BOTTOM, TOP)
    best: list[tuple[float, float]] = []
    current = None
    for t, s in zip(times, scores, strict=True):
        if current is not None:
            best.append((x_of(t), y_of(current)))
        if current is None or (s > current if higher_is_better else s < current):
            current = s
        best.append((x_of(t), y_of(current)))
    ticks = [(x_of(x_lo), points[0][0].strftime("%b %d %H:%M"))]
    if x_hi != x_lo:
        ticks.append((x_of(x_hi), points[-1][0].strftime("%b %d %H:%M")))
    body = _axes(y_ticks, decimals, y_of, ticks, "submitted (UTC)", "public score")
    body.append(f'<path class="best" d="{path_d(best)}"/>')
    body += [
        _dot(x_of(t), y_of(s), f"{label}: {fmt_score(s)} at {p[0]:%Y-%m-%d %H:%M}")
        for t, s, p, label in zip(times, scores, points, (p[2] for p in points), strict=True)
    ]
    description = (
        f"{len(points)} scored submissions; best public score {fmt_score(current)}."
        if current is not None
        else ""
    )
    return _frame("Public score over time", description, body)


def frontier_svg(
    points: Sequence[tuple[float, float, str]],
    *,
    higher_is_better: bool,
    x_label: str,
    x_format: Callable[[Any], str],
    score_range: Bounds = (None, None),
) -> SafeString:
    """Score against a cost (run time, peak memory) with the efficiency frontier drawn.

    The cost axis starts at 0; the score axis stays inside ``score_range``."""
    if not points:
        return mark_safe("")
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_values, _ = nice_ticks(0.0, max(xs) or 1.0, bounds=(0.0, None))
    y_ticks, decimals = nice_ticks(min(ys), max(ys), bounds=score_range)
    x_of = scale(x_values[0], x_values[-1], LEFT + 8, WIDTH - RIGHT - 8)
    y_of = scale(y_ticks[0], y_ticks[-1], HEIGHT - BOTTOM, TOP)
    front = pareto_front(points, higher_is_better=higher_is_better)
    ticks: list[tuple[float, str]] = []
    for value in x_values:  # a label only where it differs from the one before
        label = x_format(value)
        if not ticks or ticks[-1][1] != label:
            ticks.append((x_of(value), label))
    body = _axes(y_ticks, decimals, y_of, ticks, x_label, "public score")
    body.append(f'<path class="frontier" d="{path_d([(x_of(x), y_of(y)) for x, y, _ in front])}"/>')
    on_front = {id(p) for p in front}
    body += [
        _dot(
            x_of(x),
            y_of(y),
            f"{label}: {fmt_score(y)} with {x_format(x)}",
            "dot front" if id(p) in on_front else "dot",
        )
        for p in points
        for x, y, label in [p]
    ]
    title = f"Public score against {x_label}"
    description = (
        f"{len(points)} scored submissions; {len(front)} on the frontier, where no other run "
        f"scores better with less {x_label}."
    )
    return _frame(title, description, body)


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def shakeup_svg(rows: Sequence[dict[str, Any]]) -> SafeString:
    """A slope chart: each team's public rank (left) joined to its private rank (right)."""
    rows = [r for r in rows if r.get("public_rank") and r.get("private_rank")]
    if not rows:
        return mark_safe("")
    n = max(max(r["public_rank"], r["private_rank"]) for r in rows)
    # Inside the frame (TOP .. height - BOTTOM): the column titles, then one row per rank.
    first_row, row_gap = TOP + 40, 22
    height = max(HEIGHT, first_row + row_gap * (n - 1) + 16 + BOTTOM)
    y_of = scale(1, max(n, 2), first_row, first_row + row_gap * (max(n, 2) - 1))
    x_left, x_right = 190, WIDTH - 190
    body = [
        f'<text class="axis" x="{x_left}" y="{TOP + 18}" text-anchor="middle">public rank</text>',
        f'<text class="axis" x="{x_right}" y="{TOP + 18}" text-anchor="middle">private rank</text>',
    ]
    for r in rows:
        y1, y2 = y_of(r["public_rank"]), y_of(r["private_rank"])
        delta = r.get("delta") or 0
        css = "up" if delta > 0 else "down" if delta < 0 else "same"
        team = escape(str(r["team"]))
        # Labels stay inside the picture: long names are cut (the <title> has them whole).
        short = escape(_cut(str(r["team"]), 20))
        moved = f"+{delta}" if delta > 0 else str(delta)
        body.append(
            f'<g class="shake {css}"><title>{team}: public {r["public_rank"]}, private '
            f"{r['private_rank']} ({moved})</title>"
            f'<line x1="{x_left}" y1="{y1:.1f}" x2="{x_right}" y2="{y2:.1f}"/>'
            f'<circle cx="{x_left}" cy="{y1:.1f}" r="4"/>'
            f'<circle cx="{x_right}" cy="{y2:.1f}" r="4"/>'
            f'<text class="tick" x="{x_left - 10}" y="{y1 + 4:.1f}" text-anchor="end">'
            f"{r['public_rank']}. {short}</text>"
            f'<text class="tick" x="{x_right + 10}" y="{y2 + 4:.1f}">{r["private_rank"]}. {short} '
            f"({moved})</text></g>"
        )
    return _frame(
        "Shake-up: public rank against private rank",
        f"{len(rows)} teams; a line going up means the team gained places on the private data.",
        body,
        height,
    )


@register.filter
def score(value: float | None) -> str:
    return fmt_score(value)
