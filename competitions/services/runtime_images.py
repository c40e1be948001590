"""Runtime images: which a competition allows for code, whether one is built, what is in it.

The facts read from the engine (the image id, its packages, its ``docker save`` archive)
are cached on the RuntimeImage row and under PODIUM_RUNTIME_IMAGES_DIR, once per image id:
a rebuilt image (a new id) is read again on the next refresh.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.utils import timezone

import sandbox
from competitions.models import Competition, RuntimeImage
from podium.errors import ApplicationError
from sandbox import runtime_images as engine_images
from sandbox.code import CodeLimits


def code_limits() -> CodeLimits:
    """The bounds of a code archive, from the settings (checked at submit and on the worker)."""
    return CodeLimits(
        max_archive_bytes=settings.PODIUM_CODE_ARCHIVE_MAX_BYTES,
        max_members=settings.PODIUM_CODE_MAX_MEMBERS,
        max_unpacked_bytes=settings.PODIUM_CODE_UNPACKED_MAX_BYTES,
    )


def competition_runtime_images(*, competition: Competition) -> list[RuntimeImage]:
    """The runtime images ``competition`` allows for code, its default first (the
    competition's ``default_runtime_image``, else the first by name), the rest by name;
    empty when it takes images only. Every page, the API and the CLI show this order, so
    what they tell a participant to build FROM is what an unnamed code submission runs on."""
    allowed = list(competition.runtime_images.order_by("name"))
    chosen = next((i for i in allowed if i.pk == competition.default_runtime_image_id), None)
    if chosen is not None:
        allowed.remove(chosen)
        allowed.insert(0, chosen)
    return allowed


def runtime_image_for_code(*, competition: Competition, name: str | None) -> RuntimeImage:
    """The runtime image a code submission runs on: ``name`` (a tag) or, when empty, the
    competition's default (competition_runtime_images). Raise ApplicationError when the
    competition takes no code, does not allow ``name``, or the image is not built on this
    host (the platform's side: the message says so)."""
    allowed = competition_runtime_images(competition=competition)
    if not allowed:
        raise ApplicationError(
            f"{competition.title} takes image submissions only (its organizers allow no "
            "runtime image for code). Upload the output of `docker save` instead.",
            {"code": "code_not_allowed"},
        )
    chosen = allowed[0] if not name else next((i for i in allowed if i.name == name), None)
    if chosen is None:
        names = ", ".join(i.name for i in allowed)
        raise ApplicationError(
            f"{competition.title} does not allow the runtime image {name}; it allows {names}.",
            {"code": "runtime_image_not_allowed"},
        )
    runtime_image_require_built(runtime_image=chosen)
    return chosen


def runtime_image_require_built(*, runtime_image: RuntimeImage) -> str:
    """The image id of ``runtime_image`` on this host's engine; ApplicationError when it is
    not built here or the engine cannot be asked (both the platform's side)."""
    try:
        return engine_images.resolve(sandbox.docker_client(), runtime_image.name)
    except engine_images.RuntimeImageMissing as exc:
        raise ApplicationError(
            f"The runtime image {runtime_image.name} is not built on this server. This is the "
            "platform's side, not yours, and nothing was counted: choose another runtime image "
            "or tell the organizers.",
            {"code": "runtime_image_missing"},
        ) from exc
    except sandbox.EngineError as exc:
        raise ApplicationError(
            "The platform cannot reach its Docker engine to check the runtime image; nothing "
            "was counted. Try again in a few minutes.",
            {"code": "platform_unavailable"},
        ) from exc


def runtime_image_archive_path(*, runtime_image: RuntimeImage) -> Path | None:
    """The cached ``docker save`` archive of the image's current id, or None if not made."""
    if not runtime_image.image_id:
        return None
    path = _archive_path(runtime_image.image_id)
    return path if path.is_file() else None


def _archive_path(image_id: str) -> Path:
    digest = image_id.split(":", 1)[-1]
    return Path(settings.PODIUM_RUNTIME_IMAGES_DIR) / f"{digest}.tar"


def runtime_image_refresh(*, runtime_image: RuntimeImage, archive: bool = True) -> RuntimeImage:
    """Read the image's id from the engine; when it is new, read its packages (in a
    sandboxed container) and, with ``archive``, write its ``docker save`` archive. Does
    nothing the cache already holds. Raise ApplicationError when it is not built here."""
    image_id = runtime_image_require_built(runtime_image=runtime_image)
    client = sandbox.docker_client()
    fields = []
    if image_id != runtime_image.image_id or not runtime_image.packages:
        runtime_image.packages = engine_images.read_packages(client, image_id)
        runtime_image.image_id = image_id
        fields += ["packages", "image_id"]
    path = _archive_path(image_id)
    if archive and not path.is_file():
        runtime_image.archive_size = engine_images.save_archive(client, runtime_image.name, path)
        fields.append("archive_size")
    if fields:
        runtime_image.refreshed_at = timezone.now()
        runtime_image.save(update_fields=[*fields, "refreshed_at"])
    return runtime_image
