"""Who may see an upload: its owner only; anyone else gets 404, never 403."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404

from uploads.models import Upload


def upload_get_for_user(*, user: User | AnonymousUser, upload_id: str) -> Upload:
    try:
        key = uuid.UUID(str(upload_id))
    except ValueError as exc:
        raise Http404("No such upload.") from exc
    if not user.is_authenticated:
        raise Http404("No such upload.")
    try:
        return Upload.objects.select_related("competition").get(pk=key, user=user)
    except Upload.DoesNotExist as exc:
        raise Http404("No such upload.") from exc
