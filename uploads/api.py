"""REST API of resumable uploads (shared with the `podium` command-line client).

POST   /api/v1/uploads/       {"filename", "size", "competition"}
                              -> 201 {"id", "offset", "size", "chunk_size"}
PATCH  /api/v1/uploads/{id}/  Upload-Offset: N, raw bytes -> {"offset", "complete"}; 409 {"offset"}
GET    /api/v1/uploads/{id}/  -> {"id", "offset", "size", "complete", "filename"}
DELETE /api/v1/uploads/{id}/  -> 204; the upload and its bytes are gone (start over)
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.selectors import competition_get
from podium.errors import ApplicationError
from podium.http import AuthenticatedRequest
from uploads.models import Upload
from uploads.selectors import upload_get_for_user
from uploads.services import UploadOffsetMismatch, upload_append, upload_create, upload_delete


class UploadCreateSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=1000)
    size = serializers.IntegerField(min_value=1)
    competition = serializers.SlugField()


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    offset = serializers.IntegerField()
    size = serializers.IntegerField()
    complete = serializers.BooleanField()
    filename = serializers.CharField()


def _int_header(request: Request, name: str) -> int:
    raw = request.headers.get(name, "")
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApplicationError(f"Send the {name} header as a whole number of bytes.") from exc
    if value < 0:
        raise ApplicationError(f"{name} must not be negative.")
    return value


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

    @extend_schema(responses={204: None})
    def delete(self, request: Request, upload_id: str) -> Response:
        upload_delete(upload=upload_get_for_user(user=request.user, upload_id=upload_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

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
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        offset = _int_header(request, "Upload-Offset")
        if "Content-Length" not in request.headers:
            return Response(
                {"detail": "Send a Content-Length header."},
                status=status.HTTP_411_LENGTH_REQUIRED,
            )
        length = _int_header(request, "Content-Length")
        try:
            upload = upload_append(
                upload=upload, offset=offset, stream=request._request, length=length
            )
        except UploadOffsetMismatch as exc:
            return Response(
                {"detail": exc.message, "offset": exc.offset}, status=status.HTTP_409_CONFLICT
            )
        return Response({"offset": upload.offset, "complete": upload.complete})
