"""Fixing data keeps the split and flags stale scores: a replaced solution (re-import or
admin) keeps every stored row in its part unless its own Usage column moves it, says how
many moved, and the submissions scored on the old solution are stale until a rescore."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.test import Client
from factories import SubmissionFactory, UserFactory
from small_bundles import N, write_bundle

from competitions.bundles import competition_import_bundle
from competitions.models import Competition, CompetitionFile, Submission
from competitions.selectors import submissions_stale
from competitions.services.results import competition_rescore
from podium.errors import ApplicationError
from scoring.split import assign_usage

pytestmark = pytest.mark.django_db

# Stratified by label, so changing labels changes which rows a fresh split makes public.
LABELS = [i % 2 for i in range(1, N + 1)]
FIXED = [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0]


def stored_usage(competition: Competition) -> pd.Series:
    record = competition.files.get(kind=CompetitionFile.Kind.SOLUTION)
    return pd.read_csv(record.file.path, dtype={"id": str}).set_index("id")["Usage"]


def test_reimport_with_fixed_labels_keeps_every_row_in_its_part(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", labels=LABELS)
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    before = stored_usage(competition)

    write_bundle(bundle, labels=FIXED)
    fresh = assign_usage(
        pd.read_csv(bundle / "solution.csv", dtype={"id": str}).set_index("id"),
        public_fraction=0.5,
        seed=3,
        stratify_column="label",
    )
    assert (fresh != before.loc[fresh.index]).any(), "a fresh split would move rows"

    competition, _ = competition_import_bundle(bundle_dir=bundle)
    after = stored_usage(competition)
    assert after.equals(before)
    assert competition.data_report.moved == 0
    assert competition.data_report.replaced_solution
    labels = pd.read_csv(competition.files.get(kind="solution").file.path)["label"].tolist()
    assert labels == FIXED


def test_an_explicit_usage_column_moves_rows_and_says_how_many(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b")
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    before = stored_usage(competition)
    usage = before.tolist()
    usage[0], usage[1] = (
        ("Private" if usage[0] == "Public" else "Public"),
        ("Private" if usage[1] == "Public" else "Public"),
    )
    write_bundle(bundle, usage=usage)

    competition, _ = competition_import_bundle(bundle_dir=bundle)

    assert competition.data_report.moved == 2
    assert stored_usage(competition).tolist() == usage


def test_a_renamed_id_column_cannot_silently_resplit(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b")
    competition_import_bundle(bundle_dir=bundle)
    for name in ("solution.csv", "test.csv", "sample_submission.csv"):
        path = bundle / name
        path.write_text(path.read_text().replace("id,", "row_id,", 1))
    spec = bundle / "competition.yaml"
    spec.write_text(spec.read_text().replace("id_column: id", "id_column: row_id"))

    with pytest.raises(ApplicationError, match="the stored solution has no id column 'row_id'"):
        competition_import_bundle(bundle_dir=bundle)

    # With an explicit Usage column the organizer decides the split: accepted.
    solution = pd.read_csv(bundle / "solution.csv")
    solution["Usage"] = ["Public", "Private"] * (N // 2)
    solution.to_csv(bundle / "solution.csv", index=False)
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert competition.id_column == "row_id"


# --------------------------------------------------------------------------- stale scores


def kept_predictions(competition: Competition, *, label: int) -> Submission:
    """A scored submission whose predictions are kept, scored on the current solution."""
    predictions = pd.DataFrame({"id": range(1, N + 1), "label": label}).to_csv(index=False)
    return SubmissionFactory(
        team__competition=competition,
        predictions=ContentFile(predictions.encode(), name="predictions.csv"),
        public_score=0.0,
        private_score=0.0,
        scored_solution_sha256=competition.files.get(kind="solution").sha256,
    )


def test_scores_of_the_old_solution_are_stale_until_a_rescore(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", labels=LABELS)
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    ones = kept_predictions(competition, label=1)
    debug = kept_predictions(competition, label=1)
    Submission.objects.filter(pk=debug.pk).update(is_debug=True)
    assert not submissions_stale(competition=competition).exists()

    write_bundle(bundle, labels=FIXED)
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert list(submissions_stale(competition=competition)) == [ones]

    organizer = UserFactory(username="org", is_staff=True)
    competition_rescore(actor=organizer, competition=competition)

    assert not submissions_stale(competition=competition).exists()
    ones.refresh_from_db()
    sha = competition.files.get(kind="solution").sha256
    assert ones.scored_solution_sha256 == sha
    usage = stored_usage(competition)
    public = [FIXED[int(i) - 1] for i in usage.index if usage[i] == "Public"]
    assert ones.public_score == pytest.approx(sum(public) / len(public))


def test_a_rescore_that_changes_no_score_still_clears_the_stale_mark(tmp_path: Path) -> None:
    usage = ["Public", "Private"] * (N // 2 - 1) + ["Public", "Ignored"]
    bundle = write_bundle(tmp_path / "b", labels=LABELS, usage=usage)
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    ones = kept_predictions(competition, label=1)
    organizer = UserFactory(username="org", is_staff=True)
    competition_rescore(actor=organizer, competition=competition)
    ones.refresh_from_db()
    scores = (ones.public_score, ones.private_score)
    # Only the label of the Ignored row changes: another file, the same scores.
    write_bundle(bundle, labels=[*LABELS[:-1], 1 - LABELS[-1]], usage=usage)
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert list(submissions_stale(competition=competition)) == [ones]

    competition_rescore(actor=organizer, competition=competition)

    assert competition.audit_records.first().details["changed"] == 0
    assert not submissions_stale(competition=competition).exists()
    ones.refresh_from_db()
    assert (ones.public_score, ones.private_score) == scores


# --------------------------------------------------------------------------- the admin


@pytest.fixture
def organizer(client: Client, settings) -> Client:
    settings.DEBUG = False
    client.force_login(UserFactory(username="olga", is_staff=True, is_superuser=True))
    return client


def change_form(competition: Competition) -> dict[str, object]:
    """The change form as the admin renders it for this competition, unchanged."""
    files = list(competition.files.order_by("pk"))
    data: dict[str, object] = {
        "slug": competition.slug,
        "title": competition.title,
        "overview": competition.overview,
        "rules": competition.rules,
        "start_0": competition.start.strftime("%Y-%m-%d"),
        "start_1": competition.start.strftime("%H:%M:%S"),
        "end_0": competition.end.strftime("%Y-%m-%d"),
        "end_1": competition.end.strftime("%H:%M:%S"),
        "metric": competition.metric,
        "metric_params": "{}",
        "id_column": competition.id_column,
        "target_columns": ", ".join(competition.target_columns),
        "public_fraction": str(competition.public_fraction),
        "split_seed": str(competition.split_seed),
        "memory_limit_bytes": "1g",
        "cpu_limit": "1",
        "gpu_limit": "0",
        "time_limit_seconds": "10m",
        "image_size_limit_bytes": "10g",
        "daily_submission_limit": "5",
        "max_concurrent_runs": "2",
        "failed_runs_count": "on",
        "final_selections": "2",
        "interval_confidence": "0.95",
        "interval_resamples": "1000",
        "log_visibility": "hidden",
        "debug_sample_rows": "50",
        "max_team_size": "4",
        "files-TOTAL_FORMS": str(len(files)),
        "files-INITIAL_FORMS": str(len(files)),
        "files-MIN_NUM_FORMS": "0",
        "files-MAX_NUM_FORMS": "1000",
    }
    for i, record in enumerate(files):
        data[f"files-{i}-id"] = str(record.pk)
        data[f"files-{i}-competition"] = str(competition.pk)
        data[f"files-{i}-kind"] = record.kind
        data[f"files-{i}-name"] = record.name
    return data


def solution_row(competition: Competition) -> int:
    files = list(competition.files.order_by("pk"))
    return next(i for i, f in enumerate(files) if f.kind == "solution")


def test_admin_replaces_the_solution_keeping_the_split_and_flags_stale_scores(
    organizer: Client, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "b", labels=LABELS)
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    before = stored_usage(competition)
    ones = kept_predictions(competition, label=1)
    write_bundle(bundle, labels=FIXED)
    url = f"/admin/competitions/competition/{competition.pk}/change/"
    data = change_form(competition)

    with (bundle / "solution.csv").open("rb") as fh:
        data[f"files-{solution_row(competition)}-file"] = fh
        response = organizer.post(url, data, follow=True)

    assert response.status_code == 200
    text = response.content.decode()
    assert "solution replaced; 0 row(s) moved between the public and the private part" in text
    assert "1 submission(s) were scored on an earlier solution; their scores are stale" in text
    assert stored_usage(competition).equals(before)
    assert list(submissions_stale(competition=competition)) == [ones]
    # The notice stays on the organizer's pages until the rescore.
    again = organizer.get(url).content.decode()
    assert "scores are stale" in again
    listing = organizer.get("/admin/competitions/competition/").content.decode()
    assert '<td class="field-stale_scores">1</td>' in listing

    # The notice offers the rescore: the list's action for this competition.
    assert 'class="rescore-offer"' in again
    assert f'name="_selected_action" value="{competition.pk}"' in again
    action = {"action": "rescore", "_selected_action": [str(competition.pk)]}
    asked = organizer.post("/admin/competitions/competition/", action, follow=True)
    assert "Rescore from kept predictions" in asked.content.decode()  # the confirmation page
    assert submissions_stale(competition=competition).exists()  # nothing done yet
    done = organizer.post(
        "/admin/competitions/competition/", {**action, "confirm": "yes"}, follow=True
    ).content.decode()
    assert "rescored 1 submission(s)" in done
    assert not submissions_stale(competition=competition).exists()
    assert "scores are stale" not in organizer.get(url).content.decode()


def test_admin_refuses_a_replacement_solution_whose_ids_do_not_match(
    organizer: Client, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "b")
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    sha = competition.files.get(kind="solution").sha256
    wrong = tmp_path / "solution.csv"
    pd.DataFrame({"id": range(101, 101 + N), "label": LABELS}).to_csv(wrong, index=False)
    data = change_form(competition)
    with wrong.open("rb") as fh:
        data[f"files-{solution_row(competition)}-file"] = fh
        response = organizer.post(f"/admin/competitions/competition/{competition.pk}/change/", data)
    assert response.status_code == 200
    assert "test.csv: 12 id(s) are not in solution.csv (first: 1, 2, 3, 4, 5 ..." in (
        response.content.decode()
    )
    assert competition.files.get(kind="solution").sha256 == sha
