"""The bundle's optional `runtime_images:` list (issue 16)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db


def _names(competition: Competition) -> list[str]:
    return list(competition.runtime_images.values_list("name", flat=True))


def _with(bundle: Path, tmp_path: Path, line: str) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    spec = copy / "competition.yaml"
    text = "\n".join(x for x in spec.read_text().splitlines() if not x.startswith("runtime_images"))
    spec.write_text(f"{text}\n{line}\n")
    return copy


def test_the_demo_bundle_allows_the_python_runtime_image(digits: Competition) -> None:
    assert _names(digits) == ["podium/python:3.11"]


def test_an_empty_list_means_images_only_and_a_new_name_is_added(
    digits: Competition, digits_bundle: Path, tmp_path: Path
) -> None:
    competition, _ = competition_import_bundle(
        bundle_dir=_with(digits_bundle, tmp_path / "a", "runtime_images: []")
    )
    assert _names(competition) == []
    competition, _ = competition_import_bundle(
        bundle_dir=_with(digits_bundle, tmp_path / "b", "runtime_images: [lab/r-base:4.3]")
    )
    assert _names(competition) == ["lab/r-base:4.3"]


def test_runtime_images_must_be_a_list_of_names(digits_bundle: Path, tmp_path: Path) -> None:
    bundle = _with(digits_bundle, tmp_path, "runtime_images: podium/python:3.11")
    with pytest.raises(ApplicationError, match="runtime_images must be a list of image names"):
        competition_import_bundle(bundle_dir=bundle)
    assert not Competition.objects.exists()
