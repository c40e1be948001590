"""python manage.py import_competition BUNDLE_DIR"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from competitions.bundles import competition_import_bundle
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
