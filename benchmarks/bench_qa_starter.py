"""Train the qa starter kit once in a container and record what it costs and scores.

Run with ``python benchmarks/bench_qa_starter.py [TIME_LIMIT_SECONDS]`` (default 600, the
demo's limit; the kit trains for half of it). Needs the Docker engine and
podium/pytorch:1.13 (``docker/build-base-images.sh podium/pytorch:1.13``). The run has
the demo's limits (2 GiB of memory, 2 CPUs, no network), like a sandboxed run.

Prints: wall time of the run in seconds, the kit's peak resident memory in bytes (its own
``ru_maxrss``), epochs trained, and token F1 / exact match on the whole test set next to
the trivial answers (the passage's first word, its longest word) and a heuristic: the
passage's most frequent word of four letters or more that is neither an English stop word
nor a word of the question (the Children's Book Test's "maximum frequency" baseline), and
string matching (the passage word whose neighbours best match the blank's neighbours).
The machine's load average is printed too: training is time-boxed, so a loaded machine
trains fewer epochs.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import docker
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.qa.make_bundle import make_bundle  # noqa: E402
from scoring.metrics import get_metric  # noqa: E402

TAG = "podium-bench/qa-starter-kit:latest"
MEMORY_BYTES = 2 * 1024**3
CPUS = 2
WORD = re.compile(r"\w+")


def _most_frequent(question: str, context: str) -> str:
    """The passage's most frequent word of 4+ letters, not a stop word, not in the question."""
    asked = {word.lower() for word in WORD.findall(question)}
    counts = Counter(
        word
        for word in WORD.findall(context)
        if len(word) >= 4
        and word.lower() not in ENGLISH_STOP_WORDS
        and word.lower() not in asked
        and not word.startswith("_")
    )
    return counts.most_common(1)[0][0] if counts else ""


def _window_match(question: str, context: str, width: int = 3) -> str:
    """String matching: the passage word whose WIDTH words on each side share the most
    words with the WIDTH words on each side of the blank (the Children's Book Test's
    sliding-window baseline, without its candidate list)."""
    blank = question.index("____")
    left = {w.lower() for w in WORD.findall(question[:blank])[-width:]}
    right = {w.lower() for w in WORD.findall(question[blank + 4 :])[:width]}
    words = WORD.findall(context)
    best, answer = -1, ""
    for i, word in enumerate(words):
        before = {w.lower() for w in words[max(0, i - width) : i]}
        after = {w.lower() for w in words[i + 1 : i + 1 + width]}
        score = len(before & left) + len(after & right)
        if score > best:
            best, answer = score, word
    return answer


def main() -> None:
    limit = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    client = docker.from_env()
    client.images.build(
        path=str(ROOT / "examples" / "baseline-pytorch-qa"), tag=TAG, network_mode="none", rm=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        bundle = make_bundle(Path(tmp) / "qa")
        output = Path(tmp) / "output"
        output.mkdir()
        output.chmod(0o777)
        began = time.monotonic()
        log = client.containers.run(
            TAG,
            network_mode="none",
            mem_limit=MEMORY_BYTES,
            memswap_limit=MEMORY_BYTES,
            nano_cpus=CPUS * 10**9,
            environment={
                "PODIUM_TIME_LIMIT_SECONDS": f"{limit:g}",
                "PODIUM_MEMORY_LIMIT_BYTES": str(MEMORY_BYTES),
                "PODIUM_CPUS": str(CPUS),
                "PODIUM_GPUS": "0",
            },
            volumes={
                str(bundle / "train"): {"bind": "/data/train", "mode": "ro"},
                str(bundle / "test"): {"bind": "/data/test", "mode": "ro"},
                str(output): {"bind": "/output", "mode": "rw"},
            },
            remove=True,
        ).decode()
        wall = time.monotonic() - began
        summary = json.loads(log.strip().splitlines()[-1])
        epochs = len(re.findall(r"epoch \d+: loss", log))
        solution = pd.read_csv(bundle / "solution.csv", dtype=str)
        test = pd.read_csv(bundle / "test" / "test.csv", keep_default_na=False, dtype=str)
        contexts = test.set_index("id").loc[solution["id"], "context"]
        predictions = pd.read_csv(output / "predictions.csv", keep_default_na=False, dtype=str)
        predicted = predictions.set_index("id").loc[solution["id"], "answer"]
        gold = solution["answer"].to_numpy()
        f1, exact = get_metric("qa_f1"), get_metric("qa_exact_match")
        questions = test.set_index("id").loc[solution["id"], "question"]
        rows = {
            "starter kit": predicted,
            "trivial: first word": contexts.str.split().str[0],
            "trivial: longest word": contexts.map(lambda text: max(text.split(), key=len)),
            "heuristic: most frequent": pd.Series(
                [_most_frequent(q, c) for q, c in zip(questions, contexts, strict=True)]
            ),
            "string matching: window": pd.Series(
                [_window_match(q, c) for q, c in zip(questions, contexts, strict=True)]
            ),
        }
    print(log)
    print(f"load average {os.getloadavg()[0]:.1f}; time limit {limit:g} s, {CPUS} CPUs")
    print(f"run wall time      {wall:8.1f} s ({epochs} epochs)")
    print(f"peak memory        {summary['peak_memory_bytes']:>10,} bytes")
    print(f"held-out F1        {summary['held_out_f1']:8.3f} (10% of train)")
    for name, answers in rows.items():
        print(
            f"{name:25} test F1 {f1.compute(gold, answers.to_numpy()):.3f}  "
            f"exact match {exact.compute(gold, answers.to_numpy()):.3f}"
        )


if __name__ == "__main__":
    main()
