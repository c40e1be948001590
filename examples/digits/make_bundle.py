"""Write the demo competition bundle from scikit-learn's handwritten digits.

The data is real (1,797 8x8 scans from UCI, shipped inside scikit-learn, so nothing is
downloaded). A seeded, stratified 70/30 split gives the training set with labels and a
hidden test set whose labels go into solution.csv.

    python examples/digits/make_bundle.py OUT_DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
SEED = 17


def make_bundle(out: Path, *, now: dt.datetime | None = None) -> Path:
    now = now or dt.datetime.now(dt.UTC)
    digits = load_digits()
    pixels = pd.DataFrame(digits.data.astype(int), columns=[f"pixel{i}" for i in range(64)])
    rng = np.random.default_rng(SEED)
    # Ids are a random permutation so that their order says nothing about the label.
    pixels.insert(0, "id", rng.permutation(len(pixels)) + 1000)
    labels = pd.Series(digits.target, name="label")
    train_x, test_x, train_y, test_y = train_test_split(
        pixels, labels, test_size=0.3, random_state=SEED, stratify=labels
    )
    if out.exists():
        shutil.rmtree(out)
    (out / "train").mkdir(parents=True)
    (out / "test").mkdir()
    train_x.assign(label=train_y.to_numpy()).to_csv(out / "train" / "train.csv", index=False)
    test_x = test_x.sort_values("id")
    test_x.to_csv(out / "test" / "test.csv", index=False)
    solution = pd.DataFrame({"id": test_x["id"], "label": test_y.loc[test_x.index]})
    solution.to_csv(out / "solution.csv", index=False)
    solution.assign(label=0).to_csv(out / "sample_submission.csv", index=False)
    for name in ("overview.md", "rules.md"):
        shutil.copy(HERE / name, out / name)
    start = (now - dt.timedelta(days=1)).replace(microsecond=0)
    end = (now + dt.timedelta(days=90)).replace(microsecond=0)
    (out / "competition.yaml").write_text(
        (HERE / "competition.yaml.in")
        .read_text()
        .replace("@START@", start.isoformat().replace("+00:00", "Z"))
        .replace("@END@", end.isoformat().replace("+00:00", "Z"))
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="bundle folder to (re)create")
    args = parser.parse_args()
    print(make_bundle(args.out))


if __name__ == "__main__":
    main()
