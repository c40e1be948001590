"""Compare Podium's validate + score with raw pandas + scikit-learn; time bootstrap intervals.

Run with ``python benchmarks/bench_scoring.py [ROWS] [REPEATS]`` (default 1,000,000 rows,
best of 3). For each metric, the Podium path is ``read_predictions`` (every check,
ids matched exactly, rows reordered to the solution) followed by ``score_predictions``
(public and private parts); the baseline is ``pandas.read_csv`` of the same file plus
the scikit-learn metric on the whole column, already in solution order (so the baseline
does no id matching at all). A second baseline, "aligned", is what plain pandas needs to
score a file whose rows are in any order: ``read_csv``, ``set_index("id")``,
``reindex`` to the solution's ids, then the metric (with none of Podium's checks).
The target applies to the first. The solution is loaded once, outside both timings, as
a rescore keeps it (an evaluation reads it afresh, outside this benchmark). The byte keys
of its ids are built by the first file a worker scores against a solution and reused
while its ids are unchanged, re-read or not: column "cold s" is that first file, keys
built, and is not in the ratio.
Target: a ratio of at most 1.5. Data is generated in a temporary folder, removed at
the end. The machine's load average is printed before and after, as timings on a shared
machine are only comparable at a similar load.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scoring import validation  # noqa: E402
from scoring.bootstrap import bootstrap_interval, paired_difference_interval  # noqa: E402
from scoring.intervals import paired_difference, score_interval  # noqa: E402
from scoring.metrics import get_metric  # noqa: E402
from scoring.scorer import score_predictions  # noqa: E402
from scoring.split import assign_usage  # noqa: E402
from scoring.validation import read_predictions, read_solution  # noqa: E402

TARGET_RATIO = 1.5


def best_of(repeats: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def make_case(workdir: Path, n: int, kind: str, rng: np.random.Generator):
    """Write predictions.csv (shuffled rows) and return the solution frame and the path."""
    ids = np.char.add("row", np.arange(n).astype(str)).astype(object)
    if kind == "binary":
        truth = rng.integers(0, 2, n)
        pred = np.round(np.clip(0.3 * truth + 0.7 * rng.random(n), 0, 1), 6)
    elif kind == "label":
        truth = rng.integers(0, 5, n)
        pred = np.where(rng.random(n) < 0.7, truth, rng.integers(0, 5, n))
    else:  # value, value-ordered
        truth = np.round(rng.normal(10, 3, n), 4)
        pred = np.round(truth + rng.normal(0, 1, n), 4)
    frame = pd.DataFrame({"target": truth}, index=pd.Index(ids, name="id", dtype=object))
    frame["Usage"] = assign_usage(frame, public_fraction=0.3, seed=1)
    solution_path = workdir / "solution.csv"
    frame.reset_index().to_csv(solution_path, index=False)
    # As the worker holds it: read (and typed) by read_solution, outside the timings.
    solution = read_solution(solution_path, id_column="id", target_columns=["target"])
    # Rows shuffled, except "-ordered": in the sample submission's order, as most are.
    order = np.arange(n) if kind.endswith("-ordered") else rng.permutation(n)
    path = workdir / f"predictions-{kind}.csv"
    pd.DataFrame({"id": ids[order], "target": pred[order]}).to_csv(path, index=False)
    # The baseline scores a file already in solution order: it never matches ids.
    sorted_path = workdir / f"predictions-{kind}-sorted.csv"
    pd.DataFrame({"id": ids, "target": pred}).to_csv(sorted_path, index=False)
    return solution, path, sorted_path


def bench_validate_and_score(n: int, repeats: int, workdir: Path) -> list[float]:
    rng = np.random.default_rng(0)
    cases = [
        ("rmse", "value-ordered", skm.root_mean_squared_error),
        ("rmse", "value", skm.root_mean_squared_error),
        ("accuracy", "label", skm.accuracy_score),
        ("roc_auc", "binary", skm.roc_auc_score),
        ("log_loss", "binary", skm.log_loss),
    ]
    ratios = []
    print(f"validate + score, {n:,} rows, best of {repeats}")
    print(
        f"{'metric':<10} {'rows':<9} {'podium s':>9} {'baseline s':>11} {'ratio':>6} "
        f"{'aligned s':>10} {'ratio':>7} {'cold s':>7}"
    )
    for name, kind, reference in cases:
        solution, path, sorted_path = make_case(workdir, n, kind, rng)
        metric = get_metric(name)
        truth = solution["target"].to_numpy()

        def podium(metric=metric, solution=solution, path=path) -> None:
            predictions = read_predictions(
                path, solution=solution, id_column="id", target_columns=["target"], metric=metric
            )
            score_predictions(
                solution=solution,
                predictions=predictions,
                metric=metric,
                target_columns=["target"],
            )

        def baseline(reference=reference, truth=truth, sorted_path=sorted_path) -> None:
            frame = pd.read_csv(sorted_path)
            reference(truth, frame["target"].to_numpy())

        def aligned(reference=reference, solution=solution, path=path) -> None:
            frame = pd.read_csv(path, dtype={"id": str}).set_index("id")
            values = frame["target"].reindex(solution.index).to_numpy()
            reference(solution["target"].to_numpy(), values)

        validation._KEYS.clear()  # a solution this worker has not scored against yet
        cold_s = best_of(1, podium)
        podium_s = best_of(repeats, podium)
        baseline_s = best_of(repeats, baseline)
        aligned_s = best_of(repeats, aligned)
        ratio = podium_s / baseline_s
        ratios.append(ratio)
        flag = "" if ratio <= TARGET_RATIO else f"  over target {TARGET_RATIO}"
        rows = "in order" if kind.endswith("-ordered") else "shuffled"
        print(
            f"{name:<10} {rows:<9} {podium_s:9.3f} {baseline_s:11.3f} {ratio:6.2f} "
            f"{aligned_s:10.3f} {podium_s / aligned_s:7.2f} {cold_s:7.3f}{flag}"
        )
    return ratios


def bench_bootstrap(n: int, resamples: int) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=n)
    a = y + rng.normal(size=n)
    b = y + 1.01 * (a - y)
    labels = rng.integers(0, 2, n)
    guess = np.where(rng.random(n) < 0.8, labels, 1 - labels)
    print(f"\nbootstrap, {n:,} rows, {resamples:,} resamples")
    for title, run in [
        (
            "rmse interval",
            lambda: bootstrap_interval(get_metric("rmse"), y, a, resamples=resamples),
        ),
        ("mae interval", lambda: bootstrap_interval(get_metric("mae"), y, a, resamples=resamples)),
        (
            "accuracy interval",
            lambda: bootstrap_interval(get_metric("accuracy"), labels, guess, resamples=resamples),
        ),
        (
            "rmse paired a-b",
            lambda: paired_difference_interval(get_metric("rmse"), y, a, b, resamples=resamples),
        ),
    ]:
        start = time.perf_counter()
        interval = run()
        elapsed = time.perf_counter() - start
        print(
            f"{title:<18} {elapsed:7.2f} s  [{interval.low:.5f}, {interval.high:.5f}] "
            f"std {interval.std:.2e}"
        )


def bench_intervals(n: int, resamples: int) -> None:
    """What the worker computes after a score (scoring.intervals): one line per metric,
    `interval METRIC N rows: X s` (target: at most 1 s for the per-row metrics)."""
    rng = np.random.default_rng(2)
    y = rng.normal(size=n)
    a = y + rng.normal(size=n)
    labels = rng.integers(0, 2, n)
    guess = np.where(rng.random(n) < 0.8, labels, 1 - labels)
    proba = np.clip(0.6 * labels + 0.2 + rng.normal(0, 0.15, n), 0.01, 0.99)
    cases = [
        ("accuracy", labels, guess),
        ("rmse", y, a),
        ("mse", y, a),
        ("mae", y, a),
        ("log_loss", labels, proba),
        ("roc_auc", labels, proba),
    ]
    print(f"\nintervals (scoring.intervals), {resamples:,} resamples where bootstrapped")
    for name, truth, pred in cases:
        metric = get_metric(name)
        start = time.perf_counter()
        found = score_interval(metric, truth, pred, resamples=resamples)
        elapsed = time.perf_counter() - start
        print(
            f"interval {name} {n} rows: {elapsed:.3f} s  ({found.method}, "
            f"[{found.low:.5f}, {found.high:.5f}])"
        )
    start = time.perf_counter()
    paired_difference(get_metric("rmse"), y, a, y + 1.01 * (a - y))
    print(f"paired rmse {n} rows: {time.perf_counter() - start:.3f} s (delta)")


def load() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, for reading the timings."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"before: {load()}")
    with tempfile.TemporaryDirectory(prefix="podium-bench-scoring-") as tmp:
        ratios = bench_validate_and_score(n, repeats, Path(tmp))
    worst = max(ratios)
    verdict = "met" if worst <= TARGET_RATIO else "NOT met"
    print(f"worst ratio {worst:.2f}: target {TARGET_RATIO} {verdict}")
    print(f"after validate + score: {load()}")
    bench_bootstrap(n, 1000)
    bench_intervals(n, 1000)


if __name__ == "__main__":
    main()
