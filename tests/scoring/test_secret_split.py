"""A secret split (issue 10, item 3): a per-competition random key, not a small seed.

The attack it stops: the debug sample was drawn with the same hash and seed as the
public/private split, and the seed was a small integer (0 by default), so one debug
run plus the sample's ids let the seed, and with it the whole split, be found by brute
force.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from django.test import Client
from factories import CompetitionFactory, MembershipFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from competitions.evaluation.data import (
    _public_ids,
    competition_debug_data_prepare,
    debug_sample_ids,
)
from competitions.models import Competition, CompetitionFile
from competitions.services.files import competition_file_delete, competition_file_store
from scoring.metrics import get_metric
from scoring.split import DEBUG_SAMPLE_PURPOSE, assign_usage, derive_key, split_hash_key
from scoring.validation import read_solution

pytestmark = pytest.mark.django_db

SEEDS = range(1000)  # what a brute force of a small seed tries


def _stored_usage(competition: Competition) -> pd.Series:
    stored = pd.read_csv(
        competition.files.get(kind=CompetitionFile.Kind.SOLUTION).file.path, dtype=str
    )
    return pd.Series(stored["Usage"].to_numpy(), index=stored["id"].to_numpy())


def _bare_solution(digits_bundle: Path) -> pd.DataFrame:
    return read_solution(
        digits_bundle / "solution.csv",
        id_column="id",
        target_columns=["label"],
        metric=get_metric("accuracy"),
    )


def _split(solution: pd.DataFrame, **how: object) -> pd.Series:
    usage = assign_usage(solution, public_fraction=0.3, stratify_column=["label"], **how)
    return pd.Series(usage.to_numpy(), index=solution.index.to_numpy())


def _debug_sample(competition: Competition) -> pd.Index:
    data = competition_debug_data_prepare(competition=competition)
    test = next(data.test_dir.glob("*.csv"))
    return pd.Index(pd.read_csv(test, dtype=str)["id"].to_numpy(), dtype=object)


def _debug_candidates(competition: Competition) -> pd.Index:
    """The ids a debug sample is drawn from: public test rows, in the test file's order."""
    test = pd.read_csv(competition.files.get(kind="test").file.path, dtype=str)["id"]
    public = _public_ids(Path(competition.files.get(kind="solution").file.path), "id")
    return pd.Index(test[test.isin(public)].to_numpy(), dtype=object)


def test_each_competition_gets_a_secret_key_of_its_own() -> None:
    keys = {CompetitionFactory().split_key for _ in range(3)}
    assert len(keys) == 3
    for key in keys:
        assert len(bytes.fromhex(key)) * 8 >= 128


def test_the_split_cannot_be_reproduced_from_small_seeds(
    digits: Competition, digits_bundle: Path
) -> None:
    stored = _stored_usage(digits)
    solution = _bare_solution(digits_bundle)
    assert digits.split_seed is None

    # The key does reproduce it (so the comparison below can fail)...
    key = split_hash_key(secret_hex=digits.split_key, seed=None)
    assert _split(solution, key=key).equals(stored.loc[solution.index])
    # ...no small seed, 0 (the old default) included, does.
    for seed in SEEDS:
        assert not _split(solution, seed=seed).equals(stored.loc[solution.index]), seed


def test_the_debug_sample_does_not_give_the_split_away(
    digits: Competition, digits_bundle: Path
) -> None:
    sample = _debug_sample(digits)
    candidates = _debug_candidates(digits)
    stored = _stored_usage(digits)
    assert len(sample) == digits.debug_sample_rows
    assert set(stored.loc[sample]) == {"Public"}  # public rows only

    sample_key = derive_key(digits.split_key, DEBUG_SAMPLE_PURPOSE)
    assert set(debug_sample_ids(candidates, rows=len(sample), key=sample_key)) == set(sample)
    # The brute force of the issue finds no seed that draws this sample...
    for seed in SEEDS:
        drawn = debug_sample_ids(candidates, rows=len(sample), key=str(seed).encode())
        assert set(drawn) != set(sample), seed
    # ...and the sample's own key (were it found) is not the split's.
    solution = _bare_solution(digits_bundle)
    assert sample_key != split_hash_key(secret_hex=digits.split_key, seed=None)
    assert not _split(solution, key=sample_key).equals(stored.loc[solution.index])


def test_an_organizer_seed_moves_the_split_but_never_draws_the_debug_sample(
    digits: Competition, digits_bundle: Path
) -> None:
    digits.split_seed = 17
    digits.save(update_fields=["split_seed"])
    # The seed splits a new solution; a replacement would keep every row in its part.
    competition_file_delete(competition_file=digits.files.get(kind="solution"))
    with (digits_bundle / "solution.csv").open("rb") as fh:
        competition_file_store(
            competition=digits, kind="solution", name="solution.csv", content=io.BytesIO(fh.read())
        )
    solution = _bare_solution(digits_bundle)
    assert _stored_usage(digits).loc[solution.index].equals(_split(solution, seed=17))

    sample = _debug_sample(digits)
    by_seed = debug_sample_ids(_debug_candidates(digits), rows=len(sample), key=b"17")
    assert set(by_seed) != set(sample)


def test_replacing_the_solution_keeps_the_key_and_every_row_in_its_part(
    digits: Competition, digits_bundle: Path
) -> None:
    key, before = digits.split_key, _stored_usage(digits)
    shuffled = pd.read_csv(digits_bundle / "solution.csv", dtype=str).sample(frac=1, random_state=1)
    competition_file_store(
        competition=digits,
        kind="solution",
        name="solution.csv",
        content=io.BytesIO(shuffled.to_csv(index=False).encode()),
    )
    digits.refresh_from_db()
    after = _stored_usage(digits)

    assert digits.split_key == key
    assert after.loc[before.index].equals(before)


def test_the_key_is_never_shown_to_a_participant(digits: Competition) -> None:
    member = MembershipFactory(team__competition=digits)
    web = Client()
    web.force_login(member.user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member.user).key}")
    slug = digits.slug
    answers = [
        web.get(f"/c/{slug}/"),
        web.get(f"/c/{slug}/data/"),
        web.get(f"/c/{slug}/rules/"),
        web.get(f"/c/{slug}/submit/"),
        api.get(f"/api/v1/competitions/{slug}/"),
        api.get("/api/v1/competitions/"),
        api.get(f"/api/v1/competitions/{slug}/files/"),
    ]
    for response in answers:
        assert response.status_code == 200, response
        body = response.content.decode()
        assert digits.split_key not in body
        assert "split_key" not in body


def test_a_replacement_keeps_every_stored_row_in_its_part_whatever_the_seed_says(
    digits: Competition, digits_bundle: Path
) -> None:
    """An existing stored split never moves: not when a bundle is re-imported with
    another split_seed, not when the key would put a row elsewhere."""
    before = _stored_usage(digits)
    digits.split_seed = 0  # e.g. an old bundle re-imported with the old default
    digits.save(update_fields=["split_seed"])
    original = pd.read_csv(digits_bundle / "solution.csv", dtype=str)
    extra = original.tail(40).assign(id=[f"new{i}" for i in range(40)])
    competition_file_store(
        competition=digits,
        kind="solution",
        name="solution.csv",
        content=io.BytesIO(pd.concat([original, extra]).to_csv(index=False).encode()),
    )
    after = _stored_usage(digits)

    assert after.loc[before.index].equals(before)  # no stored row moved
    assert set(after.loc[[f"new{i}" for i in range(40)]]) == {"Public", "Private"}
    solution = _bare_solution(digits_bundle)
    assert not _split(solution, seed=0).equals(before.loc[solution.index])  # it would have
