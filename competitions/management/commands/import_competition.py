"""python manage.py import_competition BUNDLE_DIR"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from competitions.selectors import submissions_stale
from podium.errors import ApplicationError


class Command(BaseCommand):
    help = "Create or update a competition from a bundle folder holding competition.yaml."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bundle_dir", type=Path)

    def handle(self, *args: object, bundle_dir: Path, **options: object) -> None:
        try:
            competition, created = competition_import_bundle(bundle_dir=bundle_dir)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        files = competition.files.count()
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} competition {competition.slug} ({files} data files)")
        )
        # Set on the instance by competition_import_bundle (see its docstring).
        report = competition.data_report  # type: ignore[attr-defined]
        self.stdout.write(
            f"Split: {report.public} public, {report.private} private, {report.ignored} "
            "ignored row(s)."
        )
        self._say_visibility(competition)
        if report.replaced_solution:
            stale = submissions_stale(competition=competition).count()
            self.stdout.write(
                self.style.WARNING(
                    f"Solution replaced: {report.moved} row(s) moved between the public and "
                    "the private part (only a Usage column in the new file moves rows); "
                    f"{stale} submission(s) scored on the old solution are stale until a "
                    "rescore (the admin's Rescore action)."
                )
            )

    def _say_visibility(self, competition: Competition) -> None:
        """Whether participants see it yet, and, for a draft, how to publish it."""
        site = settings.PODIUM_SITE_URL
        page = site + competition.get_absolute_url()
        if competition.is_published:
            self.stdout.write(f"Published: participants see it at {page}")
            return
        changelist = site + reverse("admin:competitions_competition_changelist")
        self.stdout.write(
            self.style.WARNING(
                f"Draft: participants do not see it until it is published (staff can preview "
                f"it at {page}). To publish: in the admin ({changelist}) tick it and run the "
                "action Publish, or set `published: true` in competition.yaml and import "
                "again. Publishing checks the data first."
            )
        )
