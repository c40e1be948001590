from django.core.management.base import BaseCommand

from uploads.services import upload_purge_expired


class Command(BaseCommand):
    help = "Delete uploads untouched for 24 hours (unfinished or never submitted) and their files."

    def handle(self, *args, **options) -> None:
        count = upload_purge_expired()
        self.stdout.write(f"Deleted {count} expired upload(s).")
