from django.core.management.base import BaseCommand

from uploads.services import upload_purge


class Command(BaseCommand):
    help = (
        "Delete uploads untouched for 24 hours (unfinished or never submitted) and their "
        "files, stray files in the upload and temporary folders, and image archives no "
        "submission refers to."
    )

    def handle(self, *args, **options) -> None:
        counts = upload_purge()
        self.stdout.write(
            f"Deleted {counts['uploads']} expired upload(s), {counts['files']} stray file(s) "
            f"and {counts['images']} orphaned image(s)."
        )
