"""The security tester's F2 through the real pipeline: an archive with two configurations
under one name ends as the participant's invalid_image, not a retried platform error,
and leaves no image in the engine and no entry in the worker's image ledger."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest
from django.conf import settings
from django.contrib.auth.models import User

import sandbox
from competitions.evaluation.pipeline import submission_evaluate
from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def _duplicate_config_archive(source: Path, target: Path) -> tuple[str, str]:
    """Copy ``source`` (streamed: layers are large) with its configuration replaced by a
    small valid one A, followed by A's name again holding A padded past 8 MB (B).
    Return the ids of A and B."""
    with tarfile.open(source) as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        old = manifest[0]["Config"]
        config = json.loads(archive.extractfile(old).read())  # type: ignore[union-attr]
    config["config"]["Labels"] = {"podium.test": uuid.uuid4().hex}
    small = json.dumps(config).encode()
    name = hashlib.sha256(small).hexdigest() + ".json"
    config["config"]["Env"] = [*(config["config"].get("Env") or []), "PAD=" + "A" * (9 << 20)]
    padded = json.dumps(config).encode()
    manifest[0]["Config"] = name

    def add(out: tarfile.TarFile, member_name: str, data: bytes) -> None:
        info = tarfile.TarInfo(member_name)
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))

    with (
        tarfile.open(source) as archive,
        gzip.open(target, "wb", compresslevel=1) as packed,
        tarfile.open(fileobj=packed, mode="w") as out,
    ):
        for member in archive:
            if member.name == old:
                continue
            if member.name == "manifest.json":
                add(out, "manifest.json", json.dumps(manifest).encode())
                continue
            out.addfile(member, archive.extractfile(member) if member.isreg() else None)
        add(out, name, small)
        add(out, name, padded)
    return (
        "sha256:" + hashlib.sha256(small).hexdigest(),
        "sha256:" + hashlib.sha256(padded).hexdigest(),
    )


def test_duplicate_config_archive_is_the_participants_invalid_image_and_leaves_nothing(
    digits: Competition,
    engine: docker.DockerClient,
    script_archive: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    source = script_archive("ambiguous-config", "print('never runs')\n")
    archive = tmp_path / "image.tar.gz"
    ids = _duplicate_config_archive(source, archive)
    user = User.objects.create_user(username="mallory")
    competition_join(user=user, competition=digits)
    with archive.open("rb") as fh:
        submission = submission_create(user=user, competition=digits, image=fh)

    try:
        submission_evaluate(submission_id=submission.pk)  # no PlatformFault: not retried
        submission.refresh_from_db()

        assert submission.status == Submission.Status.FAILED
        assert submission.failure_kind == Submission.FailureKind.INVALID_IMAGE
        assert "ambiguous (two entries named" in submission.failure_message
        assert "docker save" in submission.failure_message
        for image_id in ids:
            with pytest.raises(docker.errors.ImageNotFound):
                engine.api.inspect_image(image_id)
        ledger = Path(settings.PODIUM_WORK_DIR) / "images"
        assert not ledger.exists() or list(ledger.iterdir()) == []
    finally:
        for image_id in ids:
            sandbox.remove_image(engine, image_id)
