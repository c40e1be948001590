"""Importing a competition from a bundle folder (service and management command)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from competitions.bundles import competition_import_bundle
from competitions.models import Competition, CompetitionFile
from competitions.services.files import competition_file_store
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(digits_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the digits bundle that a test may edit."""
    return Path(shutil.copytree(digits_bundle, tmp_path / "digits"))


def edit_yaml(bundle: Path, pattern: str, replacement: str) -> None:
    spec = bundle / "competition.yaml"
    text, count = re.subn(pattern, replacement, spec.read_text(), flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} not found in competition.yaml"
    spec.write_text(text)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_parses_fields_and_limits(digits: Competition, digits_bundle: Path) -> None:
    assert digits.slug == "digits"
    assert digits.title == "Handwritten digits"
    assert digits.overview.startswith("## Recognise handwritten digits")
    assert digits.rules == (digits_bundle / "rules.md").read_text()
    assert digits.metric == "accuracy"
    assert digits.target_columns == ["label"]
    assert digits.public_fraction == pytest.approx(0.3)
    assert digits.split_seed is None  # no override: the secret split key decides
    assert len(bytes.fromhex(digits.split_key)) == 32
    assert digits.memory_limit_bytes == 2 * 2**30
    assert digits.cpu_limit == 1.0
    assert digits.gpu_limit == 0
    assert digits.time_limit_seconds == 600
    assert digits.image_size_limit_bytes == 4 * 2**30
    assert digits.daily_submission_limit == 20
    assert digits.final_selections == 2
    assert digits.max_team_size == 4
    assert digits.is_open
    assert digits.start.utcoffset().total_seconds() == 0


def test_import_stores_four_files_with_checksums(digits: Competition, digits_bundle: Path) -> None:
    files = {(f.kind, f.name): f for f in digits.files.all()}
    assert set(files) == {
        ("train", "train.csv"),
        ("test", "test.csv"),
        ("solution", "solution.csv"),
        ("sample_submission", "sample_submission.csv"),
    }
    sources = {
        "train": digits_bundle / "train" / "train.csv",
        "test": digits_bundle / "test" / "test.csv",
        "sample_submission": digits_bundle / "sample_submission.csv",
    }
    for kind, source in sources.items():
        record = next(f for f in files.values() if f.kind == kind)
        assert record.sha256 == sha256_of(source)
        assert record.size == source.stat().st_size
    for record in files.values():
        stored = Path(record.file.path)
        assert record.sha256 == sha256_of(stored)
        assert record.size == stored.stat().st_size


def test_stored_solution_gains_usage_column_with_public_share(
    digits: Competition, digits_bundle: Path
) -> None:
    original = pd.read_csv(digits_bundle / "solution.csv")
    stored = pd.read_csv(digits.files.get(kind="solution").file.path)

    assert "Usage" not in original.columns
    assert list(stored.columns) == ["id", "label", "Usage"]
    assert len(stored) == len(original)
    assert sorted(stored["id"]) == sorted(original["id"])
    assert set(stored["Usage"]) == {"Public", "Private"}
    assert (stored["Usage"] == "Public").sum() == round(0.3 * len(original))


def test_reimport_updates_in_place_and_keeps_the_split(bundle: Path) -> None:
    first, created = competition_import_bundle(bundle_dir=bundle)
    assert created
    file_ids = set(first.files.values_list("pk", flat=True))
    split = pd.read_csv(first.files.get(kind="solution").file.path)

    edit_yaml(bundle, r"^title: .*$", "title: Handwritten digits, second edition")
    second, created = competition_import_bundle(bundle_dir=bundle)

    assert not created
    assert second.pk == first.pk
    assert second.title == "Handwritten digits, second edition"
    assert Competition.objects.count() == 1
    assert CompetitionFile.objects.count() == 4
    assert set(second.files.values_list("pk", flat=True)) == file_ids
    again = pd.read_csv(second.files.get(kind="solution").file.path)
    pd.testing.assert_frame_equal(again, split)


def test_reimport_replaces_a_changed_file_and_drops_a_removed_one(bundle: Path) -> None:
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    (bundle / "train" / "extra.csv").write_text("id,label\n1,2\n")
    competition_import_bundle(bundle_dir=bundle)
    assert competition.files.filter(kind="train").count() == 2

    (bundle / "train" / "extra.csv").unlink()
    sample = bundle / "sample_submission.csv"
    sample.write_text(sample.read_text().replace(",0\n", ",1\n"))
    competition_import_bundle(bundle_dir=bundle)

    assert list(competition.files.filter(kind="train").values_list("name", flat=True)) == [
        "train.csv"
    ]
    record = competition.files.get(kind="sample_submission")
    assert record.sha256 == sha256_of(sample)
    assert CompetitionFile.objects.count() == 4


def test_import_command_creates_then_updates(bundle: Path) -> None:
    out = StringIO()
    call_command("import_competition", str(bundle), stdout=out)
    assert "Created competition digits (4 data files)" in out.getvalue()

    out = StringIO()
    call_command("import_competition", str(bundle), stdout=out)
    assert "Updated competition digits (4 data files)" in out.getvalue()
    assert Competition.objects.count() == 1
    assert CompetitionFile.objects.count() == 4


def test_import_command_without_competition_yaml_fails(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"has no competition\.yaml"):
        call_command("import_competition", str(tmp_path))
    assert not Competition.objects.exists()


def test_import_rejects_unknown_metric(bundle: Path) -> None:
    edit_yaml(bundle, r"^metric: accuracy$", "metric: accurracy")
    with pytest.raises(ApplicationError, match=r"Unknown metric 'accurracy'\. Known metrics: "):
        competition_import_bundle(bundle_dir=bundle)
    with pytest.raises(CommandError, match="accurracy"):
        call_command("import_competition", str(bundle))
    assert not Competition.objects.exists()


def test_import_reads_additional_metrics(digits: Competition) -> None:
    assert digits.additional_metrics == ["f1_macro"]  # the demo's column next to accuracy


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "[f1_macrro]",
            r"competition\.yaml: additional_metrics: Unknown metric 'f1_macrro'\. Known metrics: ",
        ),
        ("[accuracy]", r"additional_metrics: accuracy is the ranking metric already"),
        ("[f1_macro, f1_macro]", r"additional_metrics: f1_macro is listed twice"),
        ("[rmse]", r"rmse reads value predictions but the ranking metric accuracy reads label"),
        ("f1_macro", r"additional_metrics must be a list of metric names"),
        (
            "[{name: f1, params: {average: sideways}}]",
            r"competition\.yaml: additional_metrics: .*average",
        ),
        ("[{name: f1, weight: 2}]", r"an entry holds only name and params"),
    ],
)
def test_import_refuses_bad_additional_metrics(bundle: Path, value: str, message: str) -> None:
    edit_yaml(bundle, r"^additional_metrics: .*$", f"additional_metrics: {value}")
    with pytest.raises(ApplicationError, match=message):
        competition_import_bundle(bundle_dir=bundle)
    with pytest.raises(CommandError, match="additional_metrics"):
        call_command("import_competition", str(bundle))
    assert not Competition.objects.exists()


def test_import_takes_additional_metrics_with_params(bundle: Path) -> None:
    edit_yaml(
        bundle,
        r"^additional_metrics: .*$",
        "additional_metrics: [f1_macro, {name: precision, params: {average: macro}}]",
    )
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert competition.additional_metrics == [
        "f1_macro",
        {"name": "precision", "params": {"average": "macro"}},
    ]


def test_import_requires_a_solution(bundle: Path) -> None:
    edit_yaml(bundle, r"^  solution: solution.csv\n", "")
    with pytest.raises(ApplicationError, match=r"data\.solution is required"):
        competition_import_bundle(bundle_dir=bundle)
    with pytest.raises(CommandError, match=r"data\.solution is required"):
        call_command("import_competition", str(bundle))
    assert not Competition.objects.exists()


def test_import_rejects_end_before_start(bundle: Path) -> None:
    edit_yaml(bundle, r"^end: .*$", "end: 2001-01-01T00:00:00Z")
    with pytest.raises(ApplicationError, match="end must be after start"):
        competition_import_bundle(bundle_dir=bundle)
    with pytest.raises(CommandError, match="end must be after start"):
        call_command("import_competition", str(bundle))


def test_import_rejects_data_path_outside_the_bundle(bundle: Path) -> None:
    (bundle.parent / "secret.csv").write_text("id,label\n1,2\n")
    edit_yaml(bundle, r"^  train: train/$", "  train: ../secret.csv")
    with pytest.raises(ApplicationError, match=r"data\.train points outside the bundle"):
        competition_import_bundle(bundle_dir=bundle)
    with pytest.raises(CommandError, match="outside the bundle"):
        call_command("import_competition", str(bundle))
    assert not CompetitionFile.objects.exists()


def test_import_names_a_missing_data_file(bundle: Path) -> None:
    (bundle / "sample_submission.csv").unlink()
    with pytest.raises(ApplicationError, match=r"sample_submission\.csv does not exist"):
        competition_import_bundle(bundle_dir=bundle)


def test_import_rejects_a_bad_limit(bundle: Path) -> None:
    edit_yaml(bundle, r"memory: 2g", "memory: lots")
    with pytest.raises(ApplicationError, match=r"limits\.memory: 'lots' is not a size"):
        competition_import_bundle(bundle_dir=bundle)


def test_import_rejects_an_unknown_limit(bundle: Path) -> None:
    edit_yaml(bundle, r"gpus: 0", "gpus: 0, disk: 5g")
    with pytest.raises(ApplicationError, match="unknown limit 'disk'"):
        competition_import_bundle(bundle_dir=bundle)


def test_import_names_a_missing_required_key(bundle: Path) -> None:
    edit_yaml(bundle, r"^target_columns: .*\n", "")
    with pytest.raises(ApplicationError, match="target_columns is required"):
        competition_import_bundle(bundle_dir=bundle)


def test_failed_reimport_leaves_the_competition_unchanged(bundle: Path) -> None:
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    edit_yaml(bundle, r"^title: .*$", "title: Changed")
    (bundle / "solution.csv").unlink()
    with pytest.raises(ApplicationError, match=r"solution\.csv does not exist"):
        competition_import_bundle(bundle_dir=bundle)
    competition.refresh_from_db()
    assert competition.title == "Handwritten digits"
    assert competition.files.count() == 4


def test_import_rejects_a_yaml_that_is_not_a_mapping(bundle: Path) -> None:
    (bundle / "competition.yaml").write_text("- slug: digits\n")
    with pytest.raises(ApplicationError, match=r"competition\.yaml"):
        competition_import_bundle(bundle_dir=bundle)


def test_import_rejects_a_non_integer_daily_limit(bundle: Path) -> None:
    edit_yaml(bundle, r"daily_limit: 20", "daily_limit: many")
    with pytest.raises(ApplicationError, match="daily_limit"):
        competition_import_bundle(bundle_dir=bundle)


def test_import_rejects_public_fraction_above_one(bundle: Path) -> None:
    edit_yaml(bundle, r"^public_fraction: 0.3$", "public_fraction: 1.5")
    with pytest.raises(ApplicationError, match="public_fraction"):
        competition_import_bundle(bundle_dir=bundle)


def test_import_refuses_a_symlink_out_of_the_bundle(bundle: Path) -> None:
    secret = bundle.parent / "secret.txt"
    secret.write_text("not for participants\n")
    (bundle / "train" / "leak.csv").symlink_to(secret)
    with pytest.raises(ApplicationError, match="outside the bundle"):
        competition_import_bundle(bundle_dir=bundle)


def test_failed_reimport_keeps_every_stored_file_on_disk(bundle: Path) -> None:
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    train = bundle / "train" / "train.csv"
    train.write_text(train.read_text() + train.read_text().splitlines()[1] + "\n")
    (bundle / "solution.csv").write_text("id,wrong\n1,2\n")

    with pytest.raises(ApplicationError, match=r"solution\.csv: no column\(s\) 'label'"):
        competition_import_bundle(bundle_dir=bundle)

    for record in competition.files.all():
        assert record.file.storage.exists(record.file.name), f"{record} lost its file"


def test_storing_a_solution_leaves_no_file_descriptor_open(digits: Competition) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    for i in range(5):
        competition_file_store(
            competition=digits,
            kind="solution",
            name="solution.csv",
            content=ContentFile(f"id,label\n1,{i}\n2,1\n3,0\n".encode()),
        )
    assert open_fds() == before
