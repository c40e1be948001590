"""Write the question-answering demo bundle from the Python Language Reference.

The text is real: the paragraphs of the Python documentation that every CPython ships
for ``help()`` (``pydoc_data/topics.py``; in Debian, package ``libpython3.X-stdlib``),
under the PSF License. Nothing is downloaded.

The questions are cloze questions, made by rule and said so on the competition's page:
for a sentence of a paragraph, one span (a quoted keyword such as ``"while"``, a number,
or a word of six letters or more that is not a stop word) is replaced by ``____``; the
answer is that span, given with its character offset in the paragraph. Each sentence of
eight words or more yields at most three questions, and all questions of one paragraph
fall on the same side of the seeded train/test split, so that no test paragraph is seen
in training.

    python examples/qa/make_bundle.py OUT_DIR [--max-paragraphs N]

``--max-paragraphs`` keeps a seeded sample of paragraphs (a smaller bundle for tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pydoc_data.topics
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
# Written by docker/build-base-images.sh's dpkg-query when podium/pytorch:1.13 was built.
PACKAGES = HERE.parent.parent / "docker" / "packages" / "pytorch-1.13.txt"
SEED = 23
TEST_SHARE = 0.25
BLANK = "____"
QUESTIONS_PER_SENTENCE = 3

_SENTENCE_END = re.compile(r'(?<=[.!?])\s+(?=[A-Z"(])')
_QUOTED = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*(?: [a-z]+)?)"')
# Whole words only: never a piece of an identifier such as "with_traceback" or "3.11".
_WORD = re.compile(r"(?<![\w.-])(?:[A-Za-z][A-Za-z-]*[A-Za-z]|\d+)(?![\w-]|\.\w)")
_STOP = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "against",
        "because",
        "before",
        "being",
        "below",
        "between",
        "both",
        "cannot",
        "could",
        "during",
        "either",
        "every",
        "further",
        "having",
        "itself",
        "might",
        "other",
        "should",
        "their",
        "theirs",
        "there",
        "these",
        "those",
        "through",
        "under",
        "until",
        "where",
        "which",
        "while",
        "whose",
        "within",
        "without",
        "would",
        "always",
        "another",
        "anything",
        "however",
        "otherwise",
        "rather",
        "something",
        "whether",
    ]
)


def paragraphs() -> list[str]:
    """The distinct prose paragraphs of the reference, one line each (no code blocks)."""
    out: list[str] = []
    # Several topics repeat a paragraph: keep its first occurrence only.
    seen: set[str] = set()
    for name in sorted(pydoc_data.topics.topics):
        for block in re.split(r"\n\s*\n", pydoc_data.topics.topics[name]):
            lines = block.splitlines()
            # Indented blocks are code, grammar or tables; keep plain prose only.
            if not lines or any(line.startswith((" ", "*", "-", "=")) for line in lines):
                continue
            text = " ".join(line.strip() for line in lines)
            if 100 <= len(text) <= 1200 and text.count(" ") >= 20 and text not in seen:
                seen.add(text)
                out.append(text)
    return out


def _candidates(sentence: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentence that may be blanked."""
    spans = [(m.start(1), m.end(1)) for m in _QUOTED.finditer(sentence)]
    for m in _WORD.finditer(sentence):
        word = m.group()
        wanted = word.isdigit() or (len(word) >= 6 and word.lower() not in _STOP)
        # Words inside quotes are offered with their quotes' span already.
        if wanted and not any(s <= m.start() < e for s, e in spans):
            spans.append((m.start(), m.end()))
    return spans


def questions(rng: np.random.Generator) -> pd.DataFrame:
    """One row per question: paragraph, question, answer text and offset."""
    rows = []
    for number, context in enumerate(paragraphs()):
        sentences = []
        offset = 0
        for sentence in _SENTENCE_END.split(context):
            start = context.index(sentence, offset)
            offset = start + len(sentence)
            if len(sentence.split()) >= 8:
                sentences.append((start, sentence))
        for start, sentence in sentences:
            spans = _candidates(sentence)
            for k in rng.permutation(len(spans))[:QUESTIONS_PER_SENTENCE]:
                s, e = spans[k]
                rows.append(
                    {
                        "paragraph": number,
                        "question": f"{sentence[:s]}{BLANK}{sentence[e:]}",
                        "context": context,
                        "answer_text": sentence[s:e],
                        "answer_start": start + s,
                    }
                )
    frame = pd.DataFrame(rows)
    assert all(
        r.context[r.answer_start : r.answer_start + len(r.answer_text)] == r.answer_text
        for r in frame.itertuples()
    )
    return frame


def make_bundle(
    out: Path, *, now: dt.datetime | None = None, max_paragraphs: int | None = None
) -> Path:
    """Write the bundle into ``out`` (recreated) and return it.

    Files: ``train/train.csv`` (id, question, context, answer_text, answer_start: the
    answer's character offset in context), ``test/test.csv`` (id, question, context),
    ``solution.csv`` (id, answer: a JSON list of gold answers), ``sample_submission.csv``
    (id, answer), the overview and rules, and ``competition.yaml``.
    """
    now = now or dt.datetime.now(dt.UTC)
    rng = np.random.default_rng(SEED)
    frame = questions(rng)
    numbers = frame["paragraph"].unique()
    if max_paragraphs is not None:
        numbers = rng.choice(numbers, size=min(max_paragraphs, len(numbers)), replace=False)
        frame = frame[frame["paragraph"].isin(numbers)]
    test_paragraphs = set(
        rng.choice(numbers, size=round(len(numbers) * TEST_SHARE), replace=False).tolist()
    )
    # Ids are a random permutation so that their order says nothing about the paragraph.
    frame = frame.assign(id=rng.permutation(len(frame)) + 10_000)
    is_test = frame["paragraph"].isin(test_paragraphs)
    train = frame[~is_test].sort_values("id")
    test = frame[is_test].sort_values("id")

    if out.exists():
        shutil.rmtree(out)
    (out / "train").mkdir(parents=True)
    (out / "test").mkdir()
    train[["id", "question", "context", "answer_text", "answer_start"]].to_csv(
        out / "train" / "train.csv", index=False
    )
    test[["id", "question", "context"]].to_csv(out / "test" / "test.csv", index=False)
    solution = pd.DataFrame(
        {"id": test["id"], "answer": [json.dumps([a]) for a in test["answer_text"]]}
    )
    solution.to_csv(out / "solution.csv", index=False)
    solution.assign(answer="").to_csv(out / "sample_submission.csv", index=False)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    packages = "\n".join(
        f"- `{line.replace(' ', '` ', 1)}" for line in PACKAGES.read_text().splitlines() if line
    )
    for name in ("overview.md", "rules.md"):
        (out / name).write_text(
            (HERE / name)
            .read_text()
            .replace("@TRAIN@", f"{len(train):,}")
            .replace("@TEST@", f"{len(test):,}")
            .replace("@PYTHON@", python)
            .replace("@PACKAGES@", packages)
        )
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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, help="bundle folder to (re)create")
    parser.add_argument("--max-paragraphs", type=int, help="keep a seeded sample (tests)")
    args = parser.parse_args()
    print(make_bundle(args.out, max_paragraphs=args.max_paragraphs))


if __name__ == "__main__":
    main()
