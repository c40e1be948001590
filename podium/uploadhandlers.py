"""Django's upload handlers, with the client's file name bounded before anything uses it.

Django's TemporaryUploadedFile puts the name's extension into its temporary file's name,
so a multipart upload named 'a.' + 300 'x' failed with OSError (File name too long): a
500, on every multipart path (the web form, the API, the admin's file fields). The name
a client sends is only a label here: storage paths are made by the models' upload_to.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.files.uploadhandler import (
    MemoryFileUploadHandler,
    TemporaryFileUploadHandler,
)

NAME_MAX_CHARS = 100  # what a FileField's name holds by default; far under 255 bytes
SUFFIX_MAX_CHARS = 16  # '.tar.gz' and '.zip' fit; longer is not a suffix of ours


def bounded_file_name(name: str) -> str:
    """``name`` without folders, at most NAME_MAX_CHARS characters: a suffix longer than
    SUFFIX_MAX_CHARS is dropped, the stem is cut to leave room for the suffix; the stem
    'upload' when nothing but dots is left."""
    name = os.path.basename(name.replace("\\", "/")).strip()
    stem, suffix = os.path.splitext(name)
    if len(suffix) > SUFFIX_MAX_CHARS:
        stem, suffix = name, ""
    stem = stem[: NAME_MAX_CHARS - len(suffix)]
    return (stem + suffix) if stem.strip(".") else "upload" + suffix


class BoundedNameMemoryFileUploadHandler(MemoryFileUploadHandler):
    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, bounded_file_name(file_name), *args, **kwargs)


class BoundedNameTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, bounded_file_name(file_name), *args, **kwargs)
