"""Resumable uploads: the tus 1.0 protocol (https://tus.io/protocols/resumable-upload),
and the JSON form the `podium` command-line client has always used, on the same URLs.

tus 1.0.0 (a request with `Tus-Resumable: 1.0.0`), extensions creation, termination and
checksum (sha1, sha256, md5):
OPTIONS /api/v1/uploads/       -> 204 Tus-Version, Tus-Extension, Tus-Max-Size, ...
POST    /api/v1/uploads/       Upload-Length: N, Upload-Metadata: competition B64,filename B64
                               -> 201 Location: /api/v1/uploads/{id}/ (refused before any
                               byte when N is over the image limit or the user's quota)
HEAD    /api/v1/uploads/{id}/  -> 200 Upload-Offset, Upload-Length
PATCH   /api/v1/uploads/{id}/  Content-Type: application/offset+octet-stream, Upload-Offset,
                               optional Upload-Checksum -> 204 Upload-Offset; 409 wrong
                               offset; 460 checksum mismatch (the chunk is discarded)
DELETE  /api/v1/uploads/{id}/  -> 204; the upload and its bytes are gone

JSON (no Tus-Resumable header):
POST   /api/v1/uploads/       {"filename", "size", "competition"}
                              -> 201 {"id", "offset", "size", "chunk_size"}
PATCH  /api/v1/uploads/{id}/  Upload-Offset: N, raw bytes -> {"offset", "complete"}; 409 {"offset"}
GET    /api/v1/uploads/{id}/  -> {"id", "offset", "size", "complete", "filename"}
DELETE /api/v1/uploads/{id}/  -> 204; the upload and its bytes are gone (start over)

The protocol is implemented here rather than with a tus library for Django (django-tus,
drf-tus): those keep their own upload model and storage, and the platform's checks (the
declared length against the image limit and the quota of open uploads before any byte,
one writer per upload, bytes streamed to disk, a finished upload moved into a
submission) live on this app's Upload.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.selectors import competition_get
from podium import numbers
from podium.errors import ApplicationError
from podium.http import AuthenticatedRequest
from uploads.models import Upload
from uploads.selectors import upload_get_for_user
from uploads.services import (
    CHECKSUM_ALGORITHMS,
    UploadChecksumMismatch,
    UploadOffsetMismatch,
    upload_append,
    upload_create,
    upload_delete,
)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum"
TUS_CONTENT_TYPE = "application/offset+octet-stream"


def _is_tus(request: Request) -> bool:
    return "Tus-Resumable" in request.headers


def _tus(response: Response, **headers: object) -> Response:
    response["Tus-Resumable"] = TUS_VERSION
    for name, value in headers.items():
        response[name.replace("_", "-")] = str(value)
    response["Cache-Control"] = "no-store"
    return response


def _tus_error(message: str, status_code: int, **extra: object) -> Response:
    return _tus(Response({"detail": message, **extra}, status=status_code))


def _tus_version_problem(request: Request) -> Response | None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        return _tus(
            Response(
                {"detail": f"This server speaks tus {TUS_VERSION} only."},
                status=status.HTTP_412_PRECONDITION_FAILED,
            ),
            Tus_Version=TUS_VERSION,
        )
    return None


def _metadata(header: str) -> dict[str, str]:
    """tus's Upload-Metadata: comma-separated `key base64value` pairs (value optional)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _, value = item.partition(" ")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ApplicationError(
                f"Upload-Metadata: the value of {key!r} is not base64-encoded UTF-8."
            ) from exc
    return pairs


def _checksum(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ApplicationError(
            f"Upload-Checksum: {algorithm!r} is not supported; use one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}."
        )
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise ApplicationError("Upload-Checksum: the digest is not base64.") from exc


def _tus_options() -> Response:
    return _tus(
        Response(status=status.HTTP_204_NO_CONTENT),
        Tus_Version=TUS_VERSION,
        Tus_Extension=TUS_EXTENSIONS,
        Tus_Max_Size=settings.UPLOAD_MAX_OPEN_BYTES,
        Tus_Checksum_Algorithm=",".join(CHECKSUM_ALGORITHMS),
    )


class UploadCreateSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=1000)
    size = numbers.WholeNumberField(min_value=1, max_value=numbers.LARGEST)
    competition = serializers.SlugField()


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    offset = serializers.IntegerField()
    size = serializers.IntegerField()
    complete = serializers.BooleanField()
    filename = serializers.CharField()


def _int_header(request: Request, name: str) -> int:
    """A header that holds a number of bytes; ApplicationError (400) naming the header when
    it is missing, not ASCII digits or over 2**63 - 1."""
    return numbers.whole_number(request.headers.get(name), name=f"The {name} header (bytes)")


class UploadCreateApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=UploadCreateSerializer,
        responses={
            201: inline_serializer(
                "UploadCreated",
                {
                    "id": serializers.UUIDField(),
                    "offset": serializers.IntegerField(),
                    "size": serializers.IntegerField(),
                    "chunk_size": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        if _is_tus(request):
            return self._tus_create(request)
        data = UploadCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = upload_create(
            user=request.user,
            competition=competition_get(slug=data.validated_data["competition"], user=request.user),
            filename=data.validated_data["filename"],
            size=data.validated_data["size"],
        )
        return Response(
            {
                "id": str(upload.pk),
                "offset": upload.offset,
                "size": upload.size,
                "chunk_size": settings.UPLOAD_CHUNK_SIZE,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(exclude=True)
    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:  # any method's request
        return _tus_options()

    def _tus_create(self, request: AuthenticatedRequest) -> Response:
        """tus creation: the declared Upload-Length is checked before any byte is sent."""
        if problem := _tus_version_problem(request):
            return problem
        if "Upload-Defer-Length" in request.headers:
            return _tus_error("Declare the size: Upload-Length is required here.", 400)
        length = _int_header(request, "Upload-Length")
        meta = _metadata(request.headers.get("Upload-Metadata", ""))
        slug = meta.get("competition", "")
        if not slug:
            return _tus_error(
                "Name the competition in Upload-Metadata (competition, base64-encoded).", 400
            )
        upload = upload_create(
            user=request.user,
            competition=competition_get(slug=slug, user=request.user),
            filename=meta.get("filename") or meta.get("name") or "image.tar",
            size=length,
        )
        location = request.build_absolute_uri(reverse("api-upload", args=[str(upload.pk)]))
        return _tus(Response(status=status.HTTP_201_CREATED), Location=location)


def _state(upload: Upload) -> dict[str, object]:
    return {
        "id": str(upload.pk),
        "offset": upload.offset,
        "size": upload.size,
        "complete": upload.complete,
        "filename": upload.filename,
    }


class UploadDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UploadSerializer)
    def get(self, request: Request, upload_id: str) -> Response:
        return Response(_state(upload_get_for_user(user=request.user, upload_id=upload_id)))

    @extend_schema(exclude=True)
    def head(self, request: Request, upload_id: str) -> Response:
        """tus: the offset the server has, to resume from."""
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        return _tus(Response(status=200), Upload_Offset=upload.offset, Upload_Length=upload.size)

    @extend_schema(exclude=True)
    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:  # any method's request
        return _tus_options()

    @extend_schema(responses={204: None})
    def delete(self, request: Request, upload_id: str) -> Response:
        upload_delete(upload=upload_get_for_user(user=request.user, upload_id=upload_id))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        return _tus(response) if _is_tus(request) else response

    @extend_schema(
        request={"application/offset+octet-stream": bytes},
        parameters=[OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True)],
        responses={
            200: inline_serializer(
                "UploadProgress",
                {"offset": serializers.IntegerField(), "complete": serializers.BooleanField()},
            ),
            409: inline_serializer("UploadConflict", {"offset": serializers.IntegerField()}),
        },
    )
    def patch(self, request: Request, upload_id: str) -> Response:
        # request.data is never touched: the body goes from the socket to the file.
        tus = _is_tus(request)
        if tus:
            if problem := _tus_version_problem(request):
                return problem
            if request.headers.get("Content-Type", "").split(";")[0].strip() != TUS_CONTENT_TYPE:
                return _tus_error(
                    f"Send the chunk as Content-Type: {TUS_CONTENT_TYPE}.",
                    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                )
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        offset = _int_header(request, "Upload-Offset")
        checksum = _checksum(request.headers.get("Upload-Checksum")) if tus else None
        if "Content-Length" not in request.headers:
            return Response(
                {"detail": "Send a Content-Length header."},
                status=status.HTTP_411_LENGTH_REQUIRED,
            )
        length = _int_header(request, "Content-Length")
        try:
            upload = upload_append(
                upload=upload,
                offset=offset,
                stream=request._request,
                length=length,
                checksum=checksum,
            )
        except UploadOffsetMismatch as exc:
            response = Response(
                {"detail": exc.message, "offset": exc.offset}, status=status.HTTP_409_CONFLICT
            )
            return _tus(response, Upload_Offset=exc.offset) if tus else response
        except UploadChecksumMismatch as exc:  # tus's own status for it
            return _tus_error(exc.message, 460, offset=exc.offset)
        if tus:
            return _tus(Response(status=status.HTTP_204_NO_CONTENT), Upload_Offset=upload.offset)
        return Response({"offset": upload.offset, "complete": upload.complete})
