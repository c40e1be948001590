"""Charts keep their axes inside the metric's possible scores, with distinct round ticks,
and draw every mark inside the frame (the issue's accuracy axis above 1 with duplicate
ticks, and the shake-up's last team below its frame)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from competitions.evaluation.metric import metric_score_range
from competitions.templatetags import charts
from podium.units import format_duration

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _frame(svg: str) -> tuple[float, float, float, float]:
    rect = re.search(r'<rect class="plot" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                     r'height="([\d.]+)"', svg)  # fmt: skip
    assert rect
    x, y, w, h = map(float, rect.groups())
    return x, y, x + w, y + h


def _y_ticks(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]+)</text>', svg)


def _marks_inside(svg: str) -> None:
    left, top, right, bottom = _frame(svg)
    circles = re.findall(r'<circle[^>]*cx="([-\d.]+)" cy="([-\d.]+)"', svg)
    assert circles
    for cx, cy in circles:
        assert left <= float(cx) <= right and top <= float(cy) <= bottom, (cx, cy, svg)


@pytest.mark.parametrize(
    "scores",
    [
        [0.97222, 0.97444, 0.99, 1.0],  # near the top of accuracy's range
        [0.5, 0.5],  # one value
        [0.0, 0.01],  # near the bottom
        [0.1, 0.95],
    ],
)
def test_an_accuracy_axis_stays_in_0_1_with_distinct_ticks(scores: list[float]) -> None:
    points = [(T0 + dt.timedelta(hours=i), s, f"#{i}") for i, s in enumerate(scores)]
    svg = str(
        charts.score_over_time_svg(
            points, higher_is_better=True, score_range=metric_score_range("accuracy")
        )
    )
    ticks = _y_ticks(svg)
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
    values = [float(t) for t in ticks]
    assert min(values) >= 0.0 and max(values) <= 1.0, ticks
    assert min(values) <= min(scores) and max(scores) <= max(values)
    _marks_inside(svg)


def test_an_error_metric_axis_never_goes_below_zero() -> None:
    points = [(30.0, 0.001, "#1"), (60.0, 0.02, "#2"), (5.0, 0.004, "#3")]
    svg = str(
        charts.frontier_svg(
            points,
            higher_is_better=False,
            x_label="run time",
            x_format=format_duration,
            score_range=metric_score_range("rmse"),
        )
    )
    values = [float(t) for t in _y_ticks(svg)]
    assert min(values) >= 0.0 and len(set(values)) == len(values)
    x_labels = re.findall(r'text-anchor="middle">([^<]+)</text>', svg)
    run_times = [label for label in x_labels if label.endswith(" s") or label == "0 s"]
    assert len(set(run_times)) == len(run_times), x_labels
    _marks_inside(svg)


def test_the_shakeup_draws_every_team_inside_its_frame() -> None:
    rows = [
        {"team": f"team number {n} with a name far too long to fit", "public_rank": n,
         "private_rank": 13 - n, "delta": (n - (13 - n))}
        for n in range(1, 13)
    ]  # fmt: skip
    svg = str(charts.shakeup_svg(rows))
    _marks_inside(svg)
    _, top, _, bottom = _frame(svg)
    for y in re.findall(r'<text class="tick" x="[\d.]+" y="([\d.]+)"', svg):
        assert top <= float(y) <= bottom
    assert "far too long to fit" in svg  # whole in the tooltip
    assert ">1. team number 1 with …</text>" in svg  # cut in the picture
