"""The CLI's code submissions, local refusal of non-archives, no re-upload of a kept file,
and re-runs (issue 16), against a live server as alice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from apifixtures import Arena
from artifacts import IMAGE_TAR, code_zip
from conftest import Result
from django.core.files.base import ContentFile

from competitions.models import CompetitionFile, RuntimeImage, Submission

Podium = Callable[..., Result]


def _new(arena: Arena) -> Submission:
    return Submission.objects.filter(team=arena.me.team).exclude(pk=arena.mine.pk).latest("pk")


def test_a_file_that_is_no_archive_is_refused_before_any_upload(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    csv = tmp_path / "predictions.csv"
    csv.write_text("id,label\n1,3\n")

    result = podium("competitions", "submit", "arena", "-f", csv)

    assert result.code == 1
    assert "neither an image archive" in result.err and "Nothing was uploaded." in result.err
    assert "Uploading" not in result.err
    assert Submission.objects.count() == 2  # the arena's own two


def test_the_same_file_again_is_not_uploaded_again(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    image = tmp_path / "image.tar"
    image.write_bytes(IMAGE_TAR)
    first = podium("competitions", "submit", "arena", "-f", image, "-m", "one")
    assert first.code == 0, first.err
    assert "Uploading image.tar" in first.err

    again = podium("competitions", "submit", "arena", "-f", image, "-m", "two", "--debug")

    assert again.code == 0, again.err
    assert "nothing uploaded" in again.out
    assert "Uploading" not in again.err
    second = _new(arena)
    assert (second.description, second.is_debug) == ("two", True)
    assert second.rerun_of == Submission.objects.get(description="one")


def test_submission_rerun_as_a_debug_run(podium: Podium, arena: Arena) -> None:
    CompetitionFile.objects.create(
        competition=arena.competition,
        kind=CompetitionFile.Kind.DEBUG_TEST,
        name="debug.csv",
        file=ContentFile(b"id,pixels\n9,0\n", name="debug.csv"),
    )
    result = podium("submission", arena.mine.pk, "--rerun", "--debug")

    assert result.code == 0, result.err
    rerun = _new(arena)
    assert f"Submission {arena.mine.pk} runs again as debug run {rerun.pk}" in result.out
    assert (rerun.rerun_of_id, rerun.is_debug) == (arena.mine.pk, True)


def test_debug_without_rerun_is_a_usage_error(podium: Podium, arena: Arena) -> None:
    result = podium("submission", arena.mine.pk, "--debug")
    assert result.code == 1
    assert "--debug goes with --rerun" in result.err


@pytest.mark.docker
def test_a_code_zip_is_detected_and_submitted_as_code(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    runtime, _ = RuntimeImage.objects.get_or_create(name="podium/python:3.11")
    arena.competition.runtime_images.add(runtime)
    code = tmp_path / "code.zip"
    code.write_bytes(code_zip())

    result = podium(
        "competitions", "submit", "arena", "-f", code, "--runtime-image", "podium/python:3.11"
    )

    assert result.code == 0, result.err
    submission = _new(arena)
    assert (submission.kind, submission.runtime_image) == ("code", runtime)
    assert submission.image.name.endswith(".zip")


@pytest.mark.docker
def test_code_without_runtime_image_runs_on_the_competitions_default_and_says_so(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    # The default is not the first by name (the qa competition: podium/pytorch:1.13 before
    # podium/python:3.11); the first by name is not even built here, so the old rule failed.
    default, _ = RuntimeImage.objects.get_or_create(name="podium/python:3.11")
    first_by_name, _ = RuntimeImage.objects.get_or_create(name="podium/a-not-built:1")
    arena.competition.runtime_images.add(default, first_by_name)
    arena.competition.default_runtime_image = default
    arena.competition.save(update_fields=["default_runtime_image"])
    code = tmp_path / "code.zip"
    code.write_bytes(code_zip())

    result = podium("competitions", "submit", "arena", "-f", code)

    assert result.code == 0, result.err
    assert _new(arena).runtime_image == default
    assert "(code on podium/python:3.11)" in result.out
