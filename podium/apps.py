"""The platform's own app: at start-up, loads the Celery app and creates the folders
under PODIUM_HOME."""

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


def platform_directories() -> list[Path]:
    """The folders every process (web, worker, management command) expects to exist:
    PODIUM_HOME, media, static, temporary uploads, resumable uploads, the worker's work
    folder, logs, and the filesystem broker's folders when that broker is used."""
    folders = [
        Path(settings.PODIUM_HOME),
        Path(settings.MEDIA_ROOT),
        Path(settings.STATIC_ROOT),
        Path(settings.FILE_UPLOAD_TEMP_DIR),
        Path(settings.UPLOADS_DIR),
        Path(settings.PODIUM_WORK_DIR),
        Path(settings.PODIUM_LOG_DIR),
    ]
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                folders.append(Path(options[key]))
    return folders


def ensure_directories() -> None:
    """Create the platform's folders (idempotent); raise OSError if one cannot be made."""
    for folder in platform_directories():
        folder.mkdir(parents=True, exist_ok=True)


class PodiumConfig(AppConfig):
    name = "podium"
    verbose_name = "Podium"

    def ready(self) -> None:
        # Every Django process (web, worker, command) gets the Celery app, so that its
        # shared tasks send through this project's broker.
        import podium.celery  # noqa: F401

        ensure_directories()
