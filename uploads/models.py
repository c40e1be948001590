"""Resumable uploads of image archives, received in chunks before they become submissions."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Upload(models.Model):
    """A file being received in pieces; `offset` is how many bytes are safely on disk.

    The bytes live in a plain file under settings.UPLOADS_DIR named after the id, not in
    a FileField: the file is written at an offset, chunk by chunk, and only becomes a
    stored artifact when a submission consumes it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    competition = models.ForeignKey(
        "competitions.Competition", on_delete=models.CASCADE, related_name="+"
    )
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    consumed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while a submission is being made from it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="upload_size_positive"),
            models.CheckConstraint(
                condition=Q(offset__gte=0) & Q(offset__lte=F("size")),
                name="upload_offset_within_size",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.offset}/{self.size}) by {self.user}"

    @property
    def complete(self) -> bool:
        return self.offset == self.size

    @property
    def path(self) -> Path:
        return Path(settings.UPLOADS_DIR) / f"{self.id.hex}.part"
