"""`python manage.py runtime_images_refresh [--no-archive]`: read each runtime image's
packages and save its docker archive (participants download it), where its id is new."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from competitions.models import RuntimeImage
from competitions.services.runtime_images import runtime_image_refresh
from podium.errors import ApplicationError


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-archive", action="store_true", help="read the packages only (no docker save)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        for runtime_image in RuntimeImage.objects.all():
            try:
                runtime_image = runtime_image_refresh(
                    runtime_image=runtime_image, archive=not options["no_archive"]
                )
            except ApplicationError as exc:
                failed += 1
                self.stderr.write(f"{runtime_image.name}: {exc.message}")
                continue
            self.stdout.write(
                f"{runtime_image.name}: {len(runtime_image.packages)} packages, "
                f"archive {runtime_image.archive_size or 0} bytes"
            )
        if failed:
            self.stderr.write(f"{failed} runtime image(s) are not built on this host.")
