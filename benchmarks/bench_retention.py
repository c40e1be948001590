"""Disk kept by the platform after N submissions, against the retention policy.

Runs N submissions (default 20) through the real pipeline (real engine, real sandbox) in a
temporary PODIUM_HOME, twice: with PODIUM_IMAGE_RETENTION_DAYS=0 (archives deleted once a
run finished) and =1 (kept a day, then expired by the periodic task). After each run it
measures the bytes under media/submissions (image archives), media/predictions (kept
predictions, capped per submission by PODIUM_KEPT_PREDICTIONS_MAX_BYTES), the worker's
work folder (per-run scratch) and the sandbox's images left in the engine, and prints them
next to what the policy allows.

The image is tiny on purpose (a static C program FROM scratch, built with gcc), so the
figures show the policy and not the cost of loading a large image.

    .venv/bin/python benchmarks/bench_retention.py [--runs 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PODIUM_HOME"] = tempfile.mkdtemp(prefix="podium-bench-retention-")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

import django  # noqa: E402

django.setup()

import docker  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

import sandbox  # noqa: E402
from competitions.bundles import competition_import_bundle  # noqa: E402
from competitions.evaluation import retention  # noqa: E402
from competitions.evaluation.pipeline import submission_evaluate  # noqa: E402
from competitions.models import Submission  # noqa: E402
from competitions.services.submissions import submission_create  # noqa: E402
from competitions.services.teams import competition_join  # noqa: E402
from examples.digits.make_bundle import make_bundle  # noqa: E402

PROGRAM = r"""
#include <stdio.h>
int main(void) {
    FILE *in = fopen("/data/sample_submission.csv", "rb");
    FILE *out = fopen("/output/predictions.csv", "wb");
    char buf[65536]; size_t n;
    if (!in || !out) return 2;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    return fclose(out) != 0;
}
"""


def tiny_archive(client: docker.DockerClient, workdir: Path) -> tuple[Path, str]:
    context = workdir / "image"
    context.mkdir()
    (context / "copy.c").write_text(PROGRAM)
    try:
        subprocess.run(
            ["gcc", "-static", "-O2", "-o", str(context / "copy"), str(context / "copy.c")],
            check=True,
        )
    except FileNotFoundError:
        sys.exit("gcc is needed to build the benchmark's tiny image: apt-get install gcc")
    (context / "Dockerfile").write_text('FROM scratch\nCOPY copy /copy\nENTRYPOINT ["/copy"]\n')
    tag = "podium-bench/retention:latest"
    image, _ = client.images.build(path=str(context), tag=tag, network_mode="none", rm=True)
    archive = workdir / "image.tar"
    with archive.open("wb") as fh:
        for chunk in image.save(named=True):
            fh.write(chunk)
    client.images.remove(tag)  # loaded untagged by each run, as a participant's image is
    assert image.id is not None  # a built image has its id
    return archive, image.id


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def measure(client: docker.DockerClient, image_id: str) -> dict[str, int]:
    media = Path(settings.MEDIA_ROOT)
    work = Path(settings.PODIUM_WORK_DIR)
    return {
        "archives": size(media / "submissions"),
        "predictions": size(media / "predictions"),
        "scratch": size(work / "runs") + size(work / "images"),
        "images": sum(1 for i in client.images.list(all=True) if i.id == image_id),
    }


def run(label: str, days: float, runs: int, archive: Path, image_id: str, user: User) -> None:
    settings.PODIUM_IMAGE_RETENTION_DAYS = days
    client = sandbox.docker_client()
    membership = user.team_memberships.first()
    assert membership is not None  # the benchmark's user has joined
    competition = membership.team.competition
    print(f"\n{label}: PODIUM_IMAGE_RETENTION_DAYS={days:g}, archive {archive.stat().st_size} B")
    print(f"{'run':>4} {'archives B':>11} {'allowed B':>10} {'predictions B':>14} "
          f"{'cap B':>11} {'scratch B':>10} {'images':>7}")  # fmt: skip
    cap = settings.PODIUM_KEPT_PREDICTIONS_MAX_BYTES
    for i in range(1, runs + 1):
        with archive.open("rb") as fh:
            submission = submission_create(user=user, competition=competition, image=fh)
        submission_evaluate(submission_id=submission.pk)
        submission.refresh_from_db()
        assert submission.status == Submission.Status.SCORED, submission.failure_message
        figures = measure(client, image_id)
        kept = Submission.objects.filter(image_deleted_at__isnull=True).count()
        allowed = 0 if days == 0 else kept * archive.stat().st_size
        scored = Submission.objects.exclude(predictions="").count()
        print(f"{i:>4} {figures['archives']:>11} {allowed:>10} {figures['predictions']:>14} "
              f"{scored * cap:>11} {figures['scratch']:>10} {figures['images']:>7}")  # fmt: skip
    if days:
        later = timezone.now() + dt.timedelta(days=days, hours=1)
        expired = retention.image_archives_expire(now=later)
        print(f"after {days:g} day(s): the periodic task deleted {expired} archives; "
              f"archives now {measure(client, image_id)['archives']} B")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    workdir = Path(tempfile.mkdtemp(prefix="podium-bench-retention-img-"))
    client = sandbox.docker_client()
    archive, image_id = tiny_archive(client, workdir)
    competition, _ = competition_import_bundle(bundle_dir=make_bundle(workdir / "digits"))
    competition.daily_submission_limit = 10 * args.runs
    competition.max_concurrent_runs = 10 * args.runs
    competition.save()
    user = User.objects.create_user(username="bench")
    competition_join(user=user, competition=competition)
    run("delete when finished", 0, args.runs, archive, image_id, user)
    run("keep one day", 1, args.runs, archive, image_id, user)


if __name__ == "__main__":
    main()
