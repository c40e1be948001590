"""python manage.py load_demo [--baseline IMAGE_ARCHIVE] [--qa-baseline IMAGE_ARCHIVE]

Set up the one-machine demo: an organizer account, the digits competition (real data
from scikit-learn), the qa competition (question answering on the Python reference, see
examples/qa/) and, when given, each one's baseline image submitted by a "baseline" user.
Safe to run at every start: nothing is created twice.
"""

import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join
from examples.digits.make_bundle import make_bundle
from examples.qa.make_bundle import make_bundle as make_qa_bundle


class Command(BaseCommand):
    help = "Create the organizer account and the demo competition."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--baseline", type=Path, help="docker save archive to submit")
        parser.add_argument(
            "--qa-baseline", type=Path, help="docker save archive of the qa starter kit"
        )

    def handle(
        self,
        *args: object,
        baseline: Path | None,
        qa_baseline: Path | None = None,
        **options: object,
    ) -> None:
        home = Path(settings.PODIUM_HOME)
        user_model = get_user_model()
        password_file = home / "organizer_password"
        if not user_model.objects.filter(username="organizer").exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser("organizer", "", password)
            password_file.write_text(password)
            password_file.chmod(0o600)
            self.stdout.write(f"Created the organizer account (password in {password_file})")

        # The qa questions and ids are this installation's own (a random seed): not
        # regenerable from the sources. The digits data is public whatever the seed.
        seed = secrets.randbits(32)
        demos: tuple[tuple[str, Callable[..., Path], Path | None, str, dict[str, int]], ...] = (
            ("digits", make_bundle, baseline, "SVC baseline", {}),
            ("qa", make_qa_bundle, qa_baseline, "PyTorch starter kit", {"seed": seed}),
        )
        for name, make, archive, description, make_options in demos:
            bundle = home / "demo" / f"{name}-bundle"
            if not (bundle / "competition.yaml").exists():
                make(bundle, **make_options)
            competition, created = competition_import_bundle(bundle_dir=bundle)
            self.stdout.write(
                f"{'Created' if created else 'Kept'} the demo competition {competition.slug}"
            )
            if archive is not None:
                self._submit_baseline(competition, archive, description)

    def _submit_baseline(self, competition: Competition, archive: Path, description: str) -> None:
        user, _ = get_user_model().objects.get_or_create(username="baseline")
        competition_join(user=user, competition=competition)
        if competition.submissions.filter(user=user).exists():
            return
        with archive.open("rb") as image:
            submission = submission_create(
                user=user, competition=competition, image=image, description=description
            )
        self.stdout.write(
            f"Submitted the {competition.slug} baseline image as submission {submission.pk}"
        )
