"""The hostile participant's decompression bomb through the real pipeline: an image archive
with a gzip-compressed layer (a few hundred KB declaring 64 MiB of zeros, 1000:1 as in the
report) ends as the team's invalid_image, counted against its limits, and the engine never
holds an image made of it."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from handmade_images import LABEL, image_archive, layer

import sandbox
from competitions.evaluation.pipeline import submission_evaluate
from competitions.models import Competition, Submission
from competitions.services.submissions import counted_filter, submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def _made_of(engine: docker.DockerClient, token: str) -> set[str]:
    """The ids of the engine's images whose configuration is the archive's (by its label)."""
    labelled = engine.images.list(all=True, filters={"label": f"{LABEL}={token}"})
    return {image.id for image in labelled}


def test_gzip_layer_bomb_is_the_teams_invalid_image_and_nothing_reaches_the_engine(
    digits: Competition, engine: docker.DockerClient, tmp_path: Path
) -> None:
    zeros = layer({"zeros": b"\0" * (64 << 20)})
    bomb = gzip.compress(zeros, compresslevel=9)
    assert len(bomb) * 200 < len(zeros)
    archive = tmp_path / "image.tar"
    token = uuid.uuid4().hex
    image_id = image_archive(archive, [(bomb, zeros)], label=token)
    user = User.objects.create_user(username="mallory")
    competition_join(user=user, competition=digits)
    with archive.open("rb") as fh:
        submission = submission_create(user=user, competition=digits, image=fh)
    all_before = {image.id for image in engine.images.list(all=True)}

    try:
        submission_evaluate(submission_id=submission.pk)  # no PlatformFault: not retried
        submission.refresh_from_db()

        assert submission.status == Submission.Status.FAILED
        assert submission.failure_kind == Submission.FailureKind.INVALID_IMAGE
        assert "gzip-compressed member" in submission.failure_message
        assert "docker save" in submission.failure_message
        assert Submission.objects.filter(counted_filter(digits), pk=submission.pk).exists()
        with pytest.raises(docker.errors.ImageNotFound):
            engine.api.inspect_image(image_id)
        assert _made_of(engine, token) == set()
        assert image_id not in all_before
        ledger = Path(settings.PODIUM_WORK_DIR) / "images"
        assert not ledger.exists() or list(ledger.iterdir()) == []
    finally:
        sandbox.remove_image(engine, image_id)
