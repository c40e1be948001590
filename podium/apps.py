"""The platform's own app: at start-up, loads the Celery app and creates the folders
under PODIUM_HOME, owner-only (podium.permissions)."""

import logging
from pathlib import Path

from django.apps import AppConfig
from django.conf import settings

from podium.permissions import PRIVATE_DIR_MODE, secure_home

logger = logging.getLogger(__name__)


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
    """Create the platform's folders, owner-only (0700), and make what an older install
    left under PODIUM_HOME owner-only (files 0600, folders 0700; what the worker prepared
    for runs inside PODIUM_WORK_DIR keeps its modes: see podium.permissions.secure_home).
    Idempotent; raise OSError if a folder cannot be made. A path that cannot be changed
    (another user's) is logged as a warning, not fatal."""
    folders = platform_directories()
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    home = Path(settings.PODIUM_HOME)
    try:
        secure_home(
            home,
            folders=[f for f in folders if home in f.parents],
            keep_inside=[Path(settings.PODIUM_WORK_DIR)],
        )
    except OSError as exc:
        logger.warning(
            "Could not make %s owner-only (%s): other users of this host may read its files.",
            settings.PODIUM_HOME,
            exc,
        )


class PodiumConfig(AppConfig):
    name = "podium"
    verbose_name = "Podium"

    def ready(self) -> None:
        # Every Django process (web, worker, command) gets the Celery app, so that its
        # shared tasks send through this project's broker.
        import podium.celery  # noqa: F401

        ensure_directories()
