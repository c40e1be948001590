"""Baseline for the digits competition: an RBF support-vector classifier.

Trains on /data/train/train.csv and writes /output/predictions.csv inside the run.
"""

import os
import time
from pathlib import Path

import pandas as pd
from sklearn.svm import SVC

DATA = Path("/data")
OUTPUT = Path(os.environ.get("PODIUM_OUTPUT_DIR", "/output"))


def main() -> None:
    started = time.monotonic()
    train = pd.read_csv(DATA / "train" / "train.csv")
    test = pd.read_csv(DATA / "test" / "test.csv")
    features = [c for c in train.columns if c.startswith("pixel")]
    print(f"train: {len(train)} rows, test: {len(test)} rows, {len(features)} features")
    print("limits:", {k: v for k, v in os.environ.items() if k.startswith("PODIUM_")})

    model = SVC(gamma=0.001, C=100.0)
    model.fit(train[features], train["label"])
    predictions = pd.DataFrame({"id": test["id"], "label": model.predict(test[features])})
    predictions.to_csv(OUTPUT / "predictions.csv", index=False)
    print(f"wrote {len(predictions)} predictions in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
