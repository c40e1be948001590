"""File downloads that resume: single byte ranges (RFC 9110 section 14) over a local file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
_CHUNK = 1 << 20


def _read(handle: BinaryIO, length: int) -> Iterator[bytes]:
    with handle:
        while length > 0:
            chunk = handle.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def ranged_file_response(
    request: HttpRequest, path: Path, *, filename: str, etag: str, content_type: str
) -> HttpResponseBase:
    """Stream ``path`` whole (200) or one byte range of it (206, ``Range: bytes=a-b``,
    ``a-`` or ``-n``); 416 for a range past its end. A Range with several ranges or an
    ``If-Range`` that does not match ``etag`` gets the whole file, as RFC 9110 allows.
    The file is read in 1 MiB pieces, never held whole."""
    size = path.stat().st_size
    quoted = f'"{etag}"'
    header = request.META.get("HTTP_RANGE", "").strip()
    if_range = request.META.get("HTTP_IF_RANGE", "").strip()
    match = _RANGE.fullmatch(header)
    response: HttpResponseBase
    if match and (match[1] or match[2]) and if_range in ("", quoted):
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:
            start, end = max(0, size - int(match[2])), size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        handle = path.open("rb")
        handle.seek(start)
        response = StreamingHttpResponse(
            _read(handle, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    else:
        response = FileResponse(
            path.open("rb"), as_attachment=True, filename=filename, content_type=content_type
        )
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = quoted
    return response
