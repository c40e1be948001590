"""python manage.py import_competition BUNDLE_DIR"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from competitions.bundles import competition_import_bundle
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
