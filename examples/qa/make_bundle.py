"""Write the question-answering demo bundle from the Python Language Reference.

The text is real: the prose of the Python documentation that every CPython ships for
``help()`` (``pydoc_data/topics.py``; in Debian, package ``libpython3.X-stdlib``), under
the PSF License. Nothing is downloaded.

The questions are cloze questions built as in the Children's Book Test (Hill et al. 2015,
"The Goldilocks Principle", arXiv:1511.02301) and the CNN/Daily Mail reading task
(Hermann et al. 2015, arXiv:1506.03340): the question is a sentence of the reference with
one span blanked (``____``), and that sentence is NOT in the context: the context is the
passage around it (the prose sentences of the same topic before and after it, up to
``WINDOW_CHARS`` characters on each side). A span is kept only if it occurs again, as a
whole word, in that passage, nowhere else in its own sentence, not between the same
``NEIGHBOURS`` words on each side in the passage (a repeated sentence), and not emptied by
the SQuAD normalisation, so the answer must be found by reading the passage, not by
matching the question's sentence. Spans: a quoted keyword such as ``"while"``, a number,
or a word of four letters or more that is not an English stop word (scikit-learn's
list). The answer is the passage's first occurrence of the span (its text and character
offset). Each sentence of eight words or more yields at most QUESTIONS_PER_SENTENCE
questions, and all questions of one topic fall on the same side of the seeded train/test
split, so that no sentence of a test passage or question is in the training set.

    python examples/qa/make_bundle.py OUT_DIR
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
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

HERE = Path(__file__).resolve().parent
# Written by docker/build-base-images.sh's dpkg-query when podium/pytorch:1.13 was built.
PACKAGES = HERE.parent.parent / "docker" / "packages" / "pytorch-1.13.txt"
SEED = 23
TEST_SHARE = 0.25
BLANK = "____"
QUESTIONS_PER_SENTENCE = 4
# Characters of the passage on each side of the question's (removed) sentence.
WINDOW_CHARS = 600
MIN_WORD_LETTERS = 4
# Words on each side of the blank that must not appear around the answer in the passage.
NEIGHBOURS = 2

_SENTENCE_END = re.compile(r'(?<=[.!?])\s+(?=[A-Z"(])')
_QUOTED = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*(?: [a-z]+)?)"')
# Whole words only: never a piece of an identifier such as "with_traceback" or "3.11".
_WORD = re.compile(r"(?<![\w.-])(?:[A-Za-z][A-Za-z-]*[A-Za-z]|\d+)(?![\w-]|\.\w)")


def topics() -> dict[str, list[str]]:
    """The prose sentences of each topic of the reference, in order (no code blocks).

    Several topics repeat a paragraph: it is kept in the first topic (by name) only.
    """
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for name in sorted(pydoc_data.topics.topics):
        sentences: list[str] = []
        for block in re.split(r"\n\s*\n", pydoc_data.topics.topics[name]):
            lines = block.splitlines()
            # Indented blocks are code, grammar or tables; keep plain prose only.
            if not lines or any(line.startswith((" ", "*", "-", "=")) for line in lines):
                continue
            text = " ".join(line.strip() for line in lines)
            if len(text) >= 40 and text not in seen:
                seen.add(text)
                sentences.extend(_SENTENCE_END.split(text))
        if sentences:
            out[name] = sentences
    return out


def _whole(span: str) -> re.Pattern[str]:
    """The span as a whole word (or quoted phrase), any case."""
    return re.compile(rf"(?<![\w.-]){re.escape(span)}(?![\w-]|\.\w)", re.IGNORECASE)


def _has_content(span: str) -> bool:
    """False where the SQuAD normalisation (no punctuation, no articles) leaves nothing."""
    words = re.sub(r"[^A-Za-z0-9\s]", " ", span).lower().split()
    return any(word not in ("a", "an", "the") for word in words)


def _phrase(sentence: str, start: int, end: int) -> re.Pattern[str]:
    """The blanked span with up to NEIGHBOURS words on each side, any case and spacing.

    Where the passage holds this phrase (a repeated or near-repeated sentence), matching
    the question's words around the blank would find the answer: such spans are dropped.
    """
    left = re.search(rf"(?:\S+\s+){{0,{NEIGHBOURS}}}\S*$", sentence[:start])
    right = re.match(rf"\S*(?:\s+\S+){{0,{NEIGHBOURS}}}", sentence[end:])
    assert left is not None and right is not None  # both can match the empty string
    phrase = left.group() + sentence[start:end] + right.group()
    return re.compile(r"\s+".join(map(re.escape, phrase.split())), re.IGNORECASE)


def _candidates(sentence: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentence that may be blanked."""
    spans = [(m.start(1), m.end(1)) for m in _QUOTED.finditer(sentence)]
    for m in _WORD.finditer(sentence):
        word = m.group()
        wanted = word.isdigit() or (
            len(word) >= MIN_WORD_LETTERS and word.lower() not in ENGLISH_STOP_WORDS
        )
        # Words inside quotes are offered with their quotes' span already.
        if wanted and not any(s <= m.start() < e for s, e in spans):
            spans.append((m.start(), m.end()))
    return spans


def _passage(sentences: list[str], index: int) -> str:
    """The sentences around ``sentences[index]`` (not itself), WINDOW_CHARS each side."""
    before: list[str] = []
    size = 0
    for sentence in reversed(sentences[:index]):
        size += len(sentence) + 1
        if size > WINDOW_CHARS:
            break
        before.insert(0, sentence)
    after: list[str] = []
    size = 0
    for sentence in sentences[index + 1 :]:
        size += len(sentence) + 1
        if size > WINDOW_CHARS:
            break
        after.append(sentence)
    return " ".join(before + after)


def questions(rng: np.random.Generator) -> pd.DataFrame:
    """One row per question: topic, question, context (passage), answer text and offset."""
    rows = []
    for topic, sentences in topics().items():
        for index, sentence in enumerate(sentences):
            context = _passage(sentences, index)
            if len(sentence.split()) < 8 or not context:
                continue
            kept = []
            for s, e in _candidates(sentence):
                pattern = _whole(sentence[s:e])
                found = pattern.search(context)
                # A span that the scoring normalisation empties ("_") would be matched by
                # an empty answer, which is reserved for "no answer": never a question here.
                if (
                    found
                    and _has_content(found.group())
                    and len(pattern.findall(sentence)) == 1
                    and not _phrase(sentence, s, e).search(context)
                ):
                    kept.append((s, e, found))
            for k in rng.permutation(len(kept))[:QUESTIONS_PER_SENTENCE]:
                s, e, found = kept[k]
                rows.append(
                    {
                        "topic": topic,
                        "question": f"{sentence[:s]}{BLANK}{sentence[e:]}",
                        "context": context,
                        "answer_text": found.group(),
                        "answer_start": found.start(),
                    }
                )
    frame = pd.DataFrame(rows)
    assert all(
        r.context[r.answer_start : r.answer_start + len(r.answer_text)] == r.answer_text
        for r in frame.itertuples()
    )
    return frame


def _test_topics(frame: pd.DataFrame, rng: np.random.Generator) -> set[str]:
    """Whole topics, in seeded order, while the test set stays within TEST_SHARE."""
    sizes = frame["topic"].value_counts().sort_index()
    target = TEST_SHARE * len(frame)
    chosen: set[str] = set()
    count = 0
    for topic in rng.permutation(sizes.index.to_numpy()).tolist():
        if count + sizes[topic] <= target:
            chosen.add(topic)
            count += int(sizes[topic])
    return chosen


def make_bundle(out: Path, *, now: dt.datetime | None = None, seed: int = SEED) -> Path:
    """Write the bundle into ``out`` (recreated) and return it.

    ``seed`` picks the questions, the test topics and the ids: the default gives the same
    bundle every time (tests, benchmarks); ``./podiumctl up`` passes a random one, so that
    the installed competition's ids and test set cannot be regenerated from the sources.

    Files: ``train/train.csv`` (id, question, context, answer_text, answer_start: the
    answer's character offset in context), ``test/test.csv`` (id, question, context),
    ``solution.csv`` (id, answer: a JSON list of gold answers), ``sample_submission.csv``
    (id, answer), the overview and rules, and ``competition.yaml``.
    """
    now = now or dt.datetime.now(dt.UTC)
    rng = np.random.default_rng(seed)
    frame = questions(rng)
    test_topics = _test_topics(frame, rng)
    # Ids are a random permutation so that their order says nothing about the topic.
    frame = frame.assign(id=rng.permutation(len(frame)) + 10_000)
    is_test = frame["topic"].isin(test_topics)
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
            .replace("@WINDOW@", str(WINDOW_CHARS))
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
    args = parser.parse_args()
    print(make_bundle(args.out))


if __name__ == "__main__":
    main()
