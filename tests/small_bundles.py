"""Small competition bundles (12 rows, binary labels) that tests break one rule at a time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

N = 12
YAML = """slug: {slug}
title: Tiny
metric: {metric}
metric_params: {params}
id_column: id
target_columns: [label]
public_fraction: {fraction}
split_seed: 3
start: 2026-01-01T00:00:00Z
end: 2099-01-01T00:00:00Z
limits: {{memory: 1g, cpus: 1, time: 10m}}
data:
  train: train.csv
  test: test.csv
  solution: solution.csv
  sample_submission: sample_submission.csv
"""


def write_bundle(
    root: Path,
    *,
    slug: str = "tiny",
    metric: str = "accuracy",
    params: str = "{}",
    fraction: float = 0.5,
    labels: list[object] | None = None,
    usage: list[str] | None = None,
    solution_ids: list[int] | None = None,
    test_ids: list[int] | None = None,
    sample_ids: list[int] | None = None,
    sample_label: object = 0,
) -> Path:
    """A 12-row binary competition; each argument breaks one thing."""
    root.mkdir(parents=True, exist_ok=True)
    ids = list(range(1, N + 1))
    labels = labels if labels is not None else [i % 2 for i in ids]
    solution = pd.DataFrame(
        {"id": solution_ids or ids, "label": labels[: len(solution_ids or ids)]}
    )
    if usage is not None:
        solution["Usage"] = usage
    solution.to_csv(root / "solution.csv", index=False)
    pd.DataFrame({"id": test_ids or ids, "x": range(len(test_ids or ids))}).to_csv(
        root / "test.csv", index=False
    )
    pd.DataFrame({"id": sample_ids or ids, "label": sample_label}).to_csv(
        root / "sample_submission.csv", index=False
    )
    pd.DataFrame({"id": [100, 101], "x": [1, 2], "label": [0, 1]}).to_csv(
        root / "train.csv", index=False
    )
    (root / "competition.yaml").write_text(
        YAML.format(slug=slug, metric=metric, params=params, fraction=fraction)
    )
    return root


def ids_with(*changes: tuple[int, int]) -> list[int]:
    ids = list(range(1, N + 1))
    for position, value in changes:
        ids[position] = value
    return ids
