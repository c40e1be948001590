"""The qa demo bundle: real text, span answers, a split with no shared paragraph, and an
import that the platform's own data checks accept."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command

from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from examples.qa.make_bundle import BLANK, make_bundle
from scoring.metrics import get_metric, normalize_answer


@pytest.fixture(scope="module")
def qa_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("qa") / "bundle")


def _whole_word(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-]){re.escape(text)}(?![\w-]|\.\w)", re.IGNORECASE)


def test_every_answer_is_in_the_passage_and_its_sentence_is_not(qa_bundle: Path) -> None:
    """The Children's Book Test construction: the question's sentence is removed from the
    context, so matching the question against the passage cannot find the answer; the
    answer occurs elsewhere in the passage and nowhere in the question."""
    train = pd.read_csv(qa_bundle / "train" / "train.csv", keep_default_na=False)
    test = pd.read_csv(qa_bundle / "test" / "test.csv", keep_default_na=False)
    solution = pd.read_csv(qa_bundle / "solution.csv")
    assert len(train) >= 2000 and len(test) >= 500
    assert set(test["id"]) == set(solution["id"])
    answers = dict(zip(solution["id"], solution["answer"].map(json.loads), strict=True))
    for frame, gold in ((train, None), (test, answers)):
        for row in frame.itertuples():
            assert row.question.count(BLANK) == 1
            if gold is None:
                start, answer = int(row.answer_start), str(row.answer_text)
                assert row.context[start : start + len(answer)] == answer
                assert _whole_word(answer).match(row.context, start)
            else:
                (answer,) = gold[row.id]
            assert _whole_word(answer).search(row.context), (row.id, answer)
            # Every question has an answer: none that the normalisation empties.
            assert normalize_answer(answer), (row.id, answer)
            assert not _whole_word(answer).search(row.question.replace(BLANK, " ")), row.id
            sentence = row.question.replace(BLANK, answer)
            assert sentence.lower() not in row.context.lower(), row.id
            # Nor do the two words on each side of the blank surround it in the passage.
            blank = row.question.index(BLANK)
            left = re.search(r"(?:\S+\s+){0,2}\S*$", row.question[:blank])
            right = re.match(r"\S*(?:\s+\S+){0,2}", row.question[blank + len(BLANK) :])
            assert left is not None and right is not None
            phrase = (left.group() + answer + right.group()).split()
            near = re.compile(r"\s+".join(map(re.escape, phrase)), re.IGNORECASE)
            assert not near.search(row.context), (row.id, phrase)
    # No test question's sentence, and no sentence of a test passage, is training text.
    split = re.compile(r"(?<=[.!?])\s+")
    train_sentences = {s.lower() for c in train["context"] for s in split.split(c)} | {
        q.replace(BLANK, a).lower()
        for q, a in zip(train["question"], train["answer_text"], strict=True)
    }
    for row in test.itertuples():
        (answer,) = answers[row.id]
        assert row.question.replace(BLANK, answer).lower() not in train_sentences, row.id
        for sentence in split.split(row.context):
            assert len(sentence.split()) < 8 or sentence.lower() not in train_sentences, row.id


def test_the_bundle_is_the_same_for_the_same_python(qa_bundle: Path, tmp_path: Path) -> None:
    again = make_bundle(tmp_path / "again")
    for name in ("train/train.csv", "test/test.csv", "solution.csv"):
        assert (again / name).read_bytes() == (qa_bundle / name).read_bytes(), name


def test_the_trivial_answers_score_near_zero(qa_bundle: Path) -> None:
    """The margins the starter kit is held to start from these: the empty answer, the
    passage's first word and its longest word."""
    solution = pd.read_csv(qa_bundle / "solution.csv")
    test = pd.read_csv(qa_bundle / "test" / "test.csv").set_index("id").loc[solution["id"]]
    f1 = get_metric("qa_f1")
    first_words = test["context"].str.split().str[0].to_numpy()
    assert f1.compute(solution["answer"].to_numpy(), first_words) < 0.05
    longest = test["context"].map(lambda text: max(text.split(), key=len)).to_numpy()
    assert f1.compute(solution["answer"].to_numpy(), longest) < 0.05
    empty = pd.Series([""] * len(solution)).to_numpy()
    assert f1.compute(solution["answer"].to_numpy(), empty) == 0.0


def test_the_bundle_imports_as_an_individual_f1_competition(qa_bundle: Path, db: None) -> None:
    competition, created = competition_import_bundle(bundle_dir=qa_bundle)
    assert created and competition.slug == "qa" and competition.is_published
    assert competition.metric == "qa_f1" and competition.max_team_size == 1
    assert competition.additional_metrics == ["qa_exact_match"]  # shown next to F1
    assert competition.target_columns == ["answer"]
    assert 0 < competition.public_fraction < 1
    assert "FROM podium/pytorch:1.13" in competition.overview
    assert "PSF License" in competition.overview
    assert "- `python3-torch` 1.13.1" in competition.overview
    assert "Entries are individual" in competition.rules
    assert sorted(competition.runtime_images.values_list("name", flat=True)) == [
        "podium/python:3.11",
        "podium/pytorch:1.13",
    ]


def test_load_demo_loads_qa_next_to_digits(db: None) -> None:
    call_command("load_demo")
    call_command("load_demo")  # at every start: nothing twice
    assert set(Competition.objects.values_list("slug", flat=True)) == {"digits", "qa"}


def test_the_installed_qa_bundle_cannot_be_regenerated_from_the_sources(
    db: None, tmp_path: Path
) -> None:
    call_command("load_demo")
    installed = Path(settings.PODIUM_HOME) / "demo" / "qa-bundle" / "solution.csv"
    from_sources = make_bundle(tmp_path / "qa") / "solution.csv"
    assert installed.read_text() != from_sources.read_text()
