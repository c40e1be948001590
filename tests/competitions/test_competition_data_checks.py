"""Data refused before anyone is charged: each rule of competitions.services.data_checks
with a small bundle, through `import_competition` and through the admin's add form
(DEBUG off), with the same message and nothing saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape
from factories import UserFactory
from small_bundles import N, ids_with, write_bundle

from competitions.bundles import competition_import_bundle
from competitions.models import Competition, CompetitionFile
from competitions.services.data_checks import CompetitionDataInvalid, competition_data_validate
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db

# (case, bundle arguments, the message expected, the same through the admin)
CASES: list[tuple[str, dict, str]] = [
    (
        "solution_id_missing_from_test",
        {"test_ids": ids_with((11, 99))},
        "test.csv: 1 id(s) of solution.csv are missing (first: 12). Rule: test data, "
        "sample submission and solution hold the same ids.",
    ),
    (
        "extra_id_in_test",
        {"test_ids": ids_with((11, 99))},
        "test.csv: 1 id(s) are not in solution.csv (first: 99 at line 13).",
    ),
    (
        "extra_id_in_sample_submission",
        {"sample_ids": ids_with((0, 42))},
        "sample_submission.csv: 1 id(s) are not in solution.csv (first: 42 at line 2).",
    ),
    (
        "duplicate_id_in_solution",
        {"solution_ids": ids_with((4, 3))},
        "solution.csv: id(s) 3 appear more than once (lines 4, 6). Rule: each id appears "
        "exactly once.",
    ),
    (
        "duplicate_id_in_sample_submission",
        {"sample_ids": ids_with((1, 1))},
        "sample_submission.csv: id(s) 1 appear more than once (lines 2, 3).",
    ),
    (
        "usage_value_not_allowed",
        {"usage": ["Public", "Private", "Test"] + ["Private"] * (N - 3)},
        "solution.csv: the Usage column holds 'Test' at line 4. Rule: Usage is Public, "
        "Private or Ignored.",
    ),
    (
        "usage_leaves_no_private_row",
        {"usage": ["Public"] * (N - 1) + ["Ignored"]},
        "solution.csv: the split leaves no Private row (11 public, 0 private, 1 ignored of "
        "12). Rule: at least one row in the public and in the private part",
    ),
    (
        "public_fraction_zero_leaves_no_public_row",
        {"fraction": 0.0},
        "solution.csv: the split leaves no Public row (0 public, 12 private, 0 ignored of 12).",
    ),
    (
        "roc_auc_with_one_class_in_the_public_part",
        {
            "metric": "roc_auc",
            "usage": ["Public", "Private"] * (N // 2),
            "labels": [1, 0, 1, 1] * (N // 4),
        },
        "solution.csv: metric roc_auc cannot be computed: Scoring the public part (6 rows): "
        "roc_auc needs both classes among the true values",
    ),
    (
        "roc_auc_on_three_classes",
        {"metric": "roc_auc", "labels": [i % 3 for i in range(1, N + 1)]},
        "solution.csv: metric roc_auc scores two classes (one score column) but column "
        "'label' holds 3 classes (0, 1, 2). Rule: a classification metric needs the labels "
        "it will see",
    ),
    (
        "multiclass_labels_for_a_binary_metric",
        {"metric": "f1", "labels": [i % 3 for i in range(1, N + 1)]},
        "solution.csv: metric f1 cannot be computed:",
    ),
    (
        "sample_label_the_solution_never_has",
        {"labels": ["cat", "dog"] * (N // 2), "sample_label": "bird"},
        "sample_submission.csv: label(s) bird never occur in solution.csv (its labels: cat, "
        "dog). Rule: the sample submission shows labels the metric will see.",
    ),
    (
        "positive_label_the_solution_never_has",
        {"metric": "f1", "params": "{positive_label: 7}"},
        "solution.csv: the positive label 7 of metric f1 never occurs. Rule: a "
        "classification metric needs the labels it will see.",
    ),
    (
        "probability_outside_zero_one",
        {"metric": "log_loss", "sample_label": 3},
        "sample_submission.csv: not a valid submission for metric log_loss:",
    ),
]


@pytest.mark.parametrize(("case", "arguments", "message"), CASES, ids=[c[0] for c in CASES])
def test_bundle_import_refuses_with_file_lines_and_rule(
    tmp_path: Path, case: str, arguments: dict, message: str
) -> None:
    bundle = write_bundle(tmp_path / case, **arguments)
    with pytest.raises(CompetitionDataInvalid) as caught:
        competition_import_bundle(bundle_dir=bundle)
    assert message in caught.value.message
    assert not Competition.objects.exists()
    assert not CompetitionFile.objects.exists()


def test_bundle_import_refuses_an_invalid_slug(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", slug="'no spaces please'")
    with pytest.raises(
        ApplicationError, match=r"slug 'no spaces please' is not a valid slug\. Rule:"
    ):
        competition_import_bundle(bundle_dir=bundle)
    assert not Competition.objects.exists()


def test_import_command_prints_every_problem(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", test_ids=ids_with((0, 77)), sample_ids=ids_with((1, 1)))
    with pytest.raises(CommandError) as caught:
        call_command("import_competition", str(bundle))
    text = str(caught.value)
    assert "test.csv: 1 id(s) of solution.csv are missing (first: 1)" in text
    assert "sample_submission.csv: id(s) 1 appear more than once (lines 2, 3)" in text


def test_a_valid_small_bundle_imports(tmp_path: Path) -> None:
    competition, created = competition_import_bundle(bundle_dir=write_bundle(tmp_path / "ok"))
    assert created
    report = competition.data_report
    assert (report.rows, report.public, report.private) == (12, 6, 6)
    assert competition_data_validate(competition=competition).rows == 12


def test_validate_refuses_a_competition_without_its_solution(tmp_path: Path) -> None:
    competition, _ = competition_import_bundle(bundle_dir=write_bundle(tmp_path / "ok"))
    competition.files.get(kind="solution").delete()
    with pytest.raises(CompetitionDataInvalid, match=r"data: no solution\. Rule:"):
        competition_data_validate(competition=competition)


# --------------------------------------------------------------------------- the admin


@pytest.fixture
def organizer(client: Client, settings) -> Client:
    """A staff user's browser session under DEBUG off, as `./podiumctl up` runs."""
    settings.DEBUG = False
    user = UserFactory(username="olga", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def admin_post(client: Client, bundle: Path, **overrides: object) -> tuple[int, str]:
    """Fill the add form from a bundle, as an organizer would type and upload it."""
    import yaml

    spec = yaml.safe_load((bundle / "competition.yaml").read_text())
    data: dict[str, object] = {
        "slug": spec["slug"],
        "title": spec["title"],
        "overview": "",
        "rules": "",
        "start_0": "2026-01-01",
        "start_1": "00:00:00",
        "end_0": "2099-01-01",
        "end_1": "00:00:00",
        "metric": spec["metric"],
        "metric_params": json.dumps(spec["metric_params"] or {}),
        "id_column": "id",
        "target_columns": ", ".join(spec["target_columns"]),
        "public_fraction": str(spec["public_fraction"]),
        "split_seed": str(spec["split_seed"]),
        "memory_limit_bytes": "1g",
        "cpu_limit": "1 CPU",
        "gpu_limit": "0",
        "time_limit_seconds": "10m",
        "image_size_limit_bytes": "4g",
        "daily_submission_limit": "5",
        "max_concurrent_runs": "2",
        "failed_runs_count": "on",
        "final_selections": "2",
        "interval_confidence": "0.95",
        "interval_resamples": "1000",
        "log_visibility": "hidden",
        "debug_sample_rows": "50",
        "max_team_size": "4",
        "files-TOTAL_FORMS": "4",
        "files-INITIAL_FORMS": "0",
        "files-MIN_NUM_FORMS": "0",
        "files-MAX_NUM_FORMS": "1000",
    }
    handles = []
    for i, (kind, name) in enumerate(
        [
            ("train", "train.csv"),
            ("test", "test.csv"),
            ("solution", "solution.csv"),
            ("sample_submission", "sample_submission.csv"),
        ]
    ):
        data[f"files-{i}-kind"] = kind
        data[f"files-{i}-name"] = ""
        handle = (bundle / name).open("rb")
        handles.append(handle)
        data[f"files-{i}-file"] = handle
    data.update(overrides)
    try:
        response = client.post("/admin/competitions/competition/add/", data)
    finally:
        for handle in handles:
            handle.close()
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(("case", "arguments", "message"), CASES, ids=[c[0] for c in CASES])
def test_admin_refuses_the_same_bundle_with_the_same_message(
    organizer: Client, tmp_path: Path, case: str, arguments: dict, message: str
) -> None:
    bundle = write_bundle(tmp_path / case, **arguments)
    status, page = admin_post(organizer, bundle)
    assert status == 200, page[:2000]
    # Once, at the top of the page; the file rows at the bottom point there.
    assert page.count(escape(message)) == 1
    assert escape(f"Not saved: {message}") in page
    assert "with these files, listed at the top of the page." in page
    # What the organizer chose stays in the form.
    assert 'value="tiny"' in page
    assert not Competition.objects.exists()
    assert not CompetitionFile.objects.exists()


def test_admin_creates_a_competition_with_units_and_file_names_from_the_uploads(
    organizer: Client, tmp_path: Path
) -> None:
    status, page = admin_post(organizer, write_bundle(tmp_path / "ok"))
    assert status == 302, page[:3000]
    competition = Competition.objects.get(slug="tiny")
    assert competition.memory_limit_bytes == 2**30
    assert competition.cpu_limit == 1.0
    assert competition.time_limit_seconds == 600
    assert competition.target_columns == ["label"]
    assert sorted(competition.files.values_list("kind", "name")) == [
        ("sample_submission", "sample_submission.csv"),
        ("solution", "solution.csv"),
        ("test", "test.csv"),
        ("train", "train.csv"),
    ]
    # The change page shows the limits as they were written.
    change = organizer.get(f"/admin/competitions/competition/{competition.pk}/change/")
    assert change.status_code == 200
    text = change.content.decode()
    assert 'value="1g"' in text and 'value="10m"' in text and 'value="label"' in text
    assert "roc_auc: higher is better" in text and "rmse: lower is better" in text


def test_admin_refuses_an_invalid_slug_with_the_bundle_message(
    organizer: Client, tmp_path: Path
) -> None:
    status, page = admin_post(organizer, write_bundle(tmp_path / "b"), slug="no spaces please")
    assert status == 200
    assert escape("slug 'no spaces please' is not a valid slug. Rule:") in page
    # Said once, at the field: the file check does not add one for the empty slug.
    assert page.count("is not a valid slug") == 1
    assert "The files are checked once the settings marked above are accepted" in page
    assert not Competition.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("memory_limit_bytes", "lots", "&#x27;lots&#x27; is not a size: write it like 512m"),
        ("time_limit_seconds", "2 weeks", "is not a duration: write it like 30s, 90m or 2h"),
        ("cpu_limit", "0", "it must be above 0"),
        ("metric", "no_such_metric", "Select a valid choice."),
        ("metric_params", '{"k": 3}', "accuracy takes no parameter(s) k"),
        ("target_columns", " , ", "Name at least one target column"),
    ],
)
def test_admin_form_errors_name_the_field_and_keep_the_rest(
    organizer: Client, tmp_path: Path, field: str, value: str, message: str
) -> None:
    status, page = admin_post(organizer, write_bundle(tmp_path / "b"), **{field: value})
    assert status == 200
    assert message in page
    assert 'value="Tiny"' in page
    # The refused field is not reported again by the data check, with its old value.
    assert "Not saved:" not in page
    assert "The files are checked once the settings marked above are accepted" in page
    assert not Competition.objects.exists()


def test_bundle_and_admin_agree_on_limits_units(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b")
    spec = bundle / "competition.yaml"
    spec.write_text(
        spec.read_text().replace(
            "{memory: 1g, cpus: 1, time: 10m}", "{cpus: 2 CPUs, time: 1 h 30 min}"
        )
    )
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert competition.cpu_limit == 2.0
    assert competition.time_limit_seconds == 5400


def test_admin_store_failure_saves_nothing_and_leaves_no_file(
    organizer: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    """Fault injection: the third file fails to store after two were written."""
    from competitions import admin as competitions_admin

    real = competitions_admin.competition_file_store
    calls: list[str] = []

    def flaky(**kwargs: object) -> CompetitionFile:
        calls.append(str(kwargs["name"]))
        if len(calls) == 3:
            raise ApplicationError("the storage is full")
        return real(**kwargs)

    monkeypatch.setattr(competitions_admin, "competition_file_store", flaky)
    folder = Path(settings.MEDIA_ROOT) / "competitions" / "tiny"
    before = {p for p in folder.rglob("*") if p.is_file()}
    status, _ = admin_post(organizer, write_bundle(tmp_path / "b"))

    assert status == 302
    shown = organizer.get("/admin/competitions/competition/add/").content.decode()
    assert "Nothing was saved: the storage is full" in shown
    assert len(calls) == 3
    assert not Competition.objects.exists()
    assert not CompetitionFile.objects.exists()
    assert {p for p in folder.rglob("*") if p.is_file()} == before


def test_admin_says_an_end_before_the_start_next_to_the_end(
    organizer: Client, tmp_path: Path
) -> None:
    status, page = admin_post(
        organizer, write_bundle(tmp_path / "b"), start_0="2026-06-01", end_0="2026-05-01"
    )
    assert status == 200
    assert "The end must be after the start." in page
    assert "competition_end_after_start" not in page  # no database constraint names
    assert not Competition.objects.exists()
