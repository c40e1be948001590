"""Stored files in the admin: shown as name and size, downloaded through a view that
checks access. Never asks the storage for a public URL: there is none (MEDIA_URL is
None, uploads are never served as static media), and asking for one answers 500.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from competitions.models import Competition, CompetitionFile, Submission
from podium.errors import StorageUnavailable
from podium.units import format_size

# URL name of the download view (registered by CompetitionAdmin.get_urls).
DOWNLOAD_URL_NAME = "admin:competitions_stored_file"

# Model -> (the registered model whose admin permissions guard its files, accessor).
FILE_OWNERS: dict[type[models.Model], tuple[type[models.Model], Any]] = {
    CompetitionFile: (Competition, lambda obj: obj.competition),
    Submission: (Submission, lambda obj: obj),
}


def stored_file_html(value: FieldFile | None) -> str:
    """`name (size)` linked to the access-checked download view; '' when empty."""
    if not value or not value.name:
        return ""
    name = PurePosixPath(value.name).name
    try:
        size = format_size(value.size)
    except StorageUnavailable:
        return format_html("{} (storage unreachable just now)", name)
    except OSError:
        # Deleted (e.g. an image archive after its run, by the retention policy): no link.
        return format_html("{} (missing from storage)", name)
    instance = value.instance
    try:
        url = reverse(
            DOWNLOAD_URL_NAME,
            kwargs={
                "model": instance._meta.model_name,
                "pk": instance.pk,
                "field": value.field.name,
            },
        )
    except NoReverseMatch:
        return format_html("{} ({})", name, size)
    return format_html('<a href="{}">{}</a> ({})', url, name, size)


class StoredFileInput(forms.ClearableFileInput):
    """A file input that shows the current file as name and size with a download link
    through the admin, instead of the storage URL Django's widget asks for."""

    def is_initial(self, value: Any) -> bool:
        return False  # the base template would read value.url

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        current = stored_file_html(value) if isinstance(value, FieldFile) else ""
        if not current:
            return html
        return format_html("<p>Currently: {}</p>{}", current, html)


FORMFIELD_OVERRIDES: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.FileField: {"widget": StoredFileInput}
}


def stored_file_download(request: HttpRequest, *, model: str, pk: int, field: str) -> FileResponse:
    """The bytes of one stored file, for staff who may view the object it belongs to.

    Raises Http404 for an unknown model, object or field, a file missing from storage,
    or a user without the view (or change) permission of the owning model's admin.
    """
    models_by_name = {m._meta.model_name: m for m in FILE_OWNERS}
    if model not in models_by_name:
        raise Http404("No such file.")
    model_class = models_by_name[model]
    try:
        file_field = model_class._meta.get_field(field)
    except FieldDoesNotExist as exc:
        raise Http404("No such file.") from exc
    if not isinstance(file_field, models.FileField):
        raise Http404("No such file.")
    obj = model_class._default_manager.filter(pk=pk).first()
    if obj is None:
        raise Http404("No such file.")
    owner_model, owner_of = FILE_OWNERS[model_class]
    owner_admin = admin.site._registry.get(owner_model)
    if owner_admin is None or not owner_admin.has_view_or_change_permission(request, owner_of(obj)):
        raise Http404("No such file.")
    value = getattr(obj, field)
    if not value:
        raise Http404("No such file.")
    try:
        handle = value.open("rb")
    except OSError as exc:
        raise Http404(f"{value.name} is missing from storage.") from exc
    return FileResponse(
        handle,
        as_attachment=True,
        filename=PurePosixPath(value.name).name,
        content_type="application/octet-stream",
    )
