"""Where the platform's files live: Django's storage API over a local folder (the default)
or an S3-compatible bucket (``PODIUM_STORAGE=s3``, django-storages).

Every file the platform keeps (submission image and code archives, competition data and
the hidden solution, kept predictions, staged results of remote compute hosts) is reached
through ``default_storage`` (open, save, delete, exists, size, listdir): never by a path,
so the web server, the scoring workers and the local compute workers of a multi-host
deployment share one bucket. Where a local file is needed (``docker load``, the worker's
read-only data mounts) the worker copies it (competitions.evaluation.data).

No stored file is public: objects are written without an ACL (the bucket's own, private
by default; a public-read ACL is never asked for), URLs are signed and short-lived
(querystring auth), and no page links to one: every download goes through a view that
decides access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ImproperlyConfigured
from storages.backends.s3 import S3Storage

from podium.errors import StorageUnavailable

T = TypeVar("T")

# Reads spool to disk above this many bytes: django-storages' default (0) keeps a whole
# downloaded object in memory, and an image archive is gigabytes.
SPOOL_MAX_MEMORY_BYTES = 2 * 1024 * 1024
# Seconds a signed URL stays valid (none is handed out today; a short life if one is).
SIGNED_URL_SECONDS = 300


def _oserror(call: Callable[[], T], what: str) -> T:
    try:
        return call()
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"S3 storage could not {what}: {exc}") from exc


class PrivateS3Storage(S3Storage):
    """S3Storage whose objects are private and whose failures are OSError.

    The platform's code treats an OSError from storage as the platform's fault (a run is
    retried, a download answers with a message): an unreachable endpoint or a refused
    request (botocore's errors) raises StorageUnavailable (an OSError; web requests answer
    503, podium.middleware), and a missing object FileNotFoundError, as on the local
    file system.
    """

    def __init__(self, **options: Any) -> None:
        if options.get("custom_domain") or options.get("querystring_auth") is False:
            raise ImproperlyConfigured("Stored files must never get unsigned public URLs.")
        acl = options.get("default_acl")
        if acl and acl != "private":
            raise ImproperlyConfigured(f"Stored files must stay private, not {acl!r}.")
        options.setdefault("querystring_auth", True)
        options.setdefault("querystring_expire", SIGNED_URL_SECONDS)
        options.setdefault("default_acl", None)
        # Like FileSystemStorage: a name taken gets a suffix, never overwrites a file that
        # a record still points to (a replaced solution is deleted only after commit).
        options.setdefault("file_overwrite", False)
        options.setdefault("max_memory_size", SPOOL_MAX_MEMORY_BYTES)
        super().__init__(**options)

    def _open(self, name: str, mode: str = "rb") -> Any:
        return _oserror(lambda: super(PrivateS3Storage, self)._open(name, mode), f"open {name}")

    def _save(self, name: str, content: Any) -> str:
        return _oserror(lambda: super(PrivateS3Storage, self)._save(name, content), f"save {name}")

    def delete(self, name: str) -> None:
        _oserror(lambda: super(PrivateS3Storage, self).delete(name), f"delete {name}")

    def exists(self, name: str) -> bool:
        return _oserror(lambda: super(PrivateS3Storage, self).exists(name), f"look up {name}")

    def size(self, name: str) -> int:
        return _oserror(lambda: super(PrivateS3Storage, self).size(name), f"size {name}")

    def listdir(self, name: str) -> tuple[list[str], list[str]]:
        return _oserror(lambda: super(PrivateS3Storage, self).listdir(name), f"list {name}")

    def get_modified_time(self, name: str) -> Any:
        def modified() -> Any:
            try:
                return super(PrivateS3Storage, self).get_modified_time(name)
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    raise FileNotFoundError(f"File does not exist: {name}") from exc
                raise

        return _oserror(modified, f"date {name}")
