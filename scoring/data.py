"""Competition data as the worker's Docker engine needs it: plain folders on its disk.

Files live in Django's storage (a local folder by default, S3-compatible storage on a
multi-host deployment). Each worker unpacks a competition's files once per version of
its data into PODIUM_WORK_DIR and bind-mounts the folders read-only into every run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from competitions.models import Competition, CompetitionFile


class CompetitionNotReady(Exception):
    """The organizer has not uploaded everything a run needs: not the team's fault."""


@dataclass(frozen=True)
class CompetitionData:
    train_dir: Path
    test_dir: Path
    sample_submission: Path
    solution: Path


def _copy(record: CompetitionFile, target: Path, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    with record.file.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    target.chmod(mode)


def competition_data_prepare(*, competition: Competition) -> CompetitionData:
    """Unpack the competition's files (once per data version) and return their paths."""
    files = list(competition.files.order_by("kind", "name"))
    kinds = {f.kind for f in files}
    missing = [
        k.label
        for k in (
            CompetitionFile.Kind.TEST,
            CompetitionFile.Kind.SOLUTION,
            CompetitionFile.Kind.SAMPLE_SUBMISSION,
        )
        if k not in kinds
    ]
    if missing:
        raise CompetitionNotReady(
            f"The competition {competition.slug} has no {', '.join(missing)} yet; "
            "the organizers have to upload it before runs can be scored."
        )
    version = hashlib.sha256(
        "\n".join(f"{f.pk}:{f.kind}:{f.name}:{f.sha256}" for f in files).encode()
    ).hexdigest()[:16]
    root = Path(settings.PODIUM_WORK_DIR) / "data" / competition.slug / version
    data = CompetitionData(
        train_dir=root / "train",
        test_dir=root / "test",
        sample_submission=root / "sample_submission.csv",
        solution=root / "solution.csv",
    )
    if (root / ".complete").exists():
        return data

    staging = root.with_name(f"{version}.{uuid.uuid4().hex}.partial")
    (staging / "train").mkdir(parents=True, mode=0o755)
    (staging / "test").mkdir(mode=0o755)
    for record in files:
        if record.kind == CompetitionFile.Kind.SOLUTION:
            _copy(record, staging / "solution.csv", 0o600)
        elif record.kind == CompetitionFile.Kind.SAMPLE_SUBMISSION:
            _copy(record, staging / "sample_submission.csv", 0o644)
        else:
            _copy(record, staging / record.kind / record.safe_name, 0o644)
    (staging / ".complete").touch()
    # The sandbox user must traverse every folder down to the mounted ones.
    for folder in (staging, *(p for p in staging.rglob("*") if p.is_dir())):
        folder.chmod(0o755)
    try:
        os.rename(staging, root)
    except OSError:
        # Another worker finished the same version first; its copy is as good as ours.
        shutil.rmtree(staging, ignore_errors=True)
    return data
