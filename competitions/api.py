"""REST API v1 (paths and field names are fixed by shared/DESIGN.md).

Every view parses its input, calls one service or selector, and renders. What a user may
see is decided by `competitions.selectors` alone: another team's submissions, logs,
hidden files and private scores before the reveal answer 404 (or 400 for the private
leaderboard), as they do in the web UI.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions import leaderboards, selectors
from competitions.leaderboards import leaderboard_csv_response
from competitions.models import Submission
from competitions.serializers import (
    CompetitionFileSerializer,
    CompetitionSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    LeaderboardSerializer,
    MergeRequestCreateSerializer,
    MergeRequestSerializer,
    RespondSerializer,
    ShakeupEntrySerializer,
    SubmissionCreatedSerializer,
    SubmissionCreateSerializer,
    SubmissionDetailSerializer,
    SubmissionLogSerializer,
    SubmissionRerunSerializer,
    SubmissionSelectSerializer,
    SubmissionSerializer,
    TeamDetailSerializer,
    TeamRenameSerializer,
    TeamSerializer,
    TokenSerializer,
)
from competitions.services import accounts as accounts_services
from competitions.services import submissions as submissions_services
from competitions.services import teams as teams_services
from competitions.services.submit import submission_rerun, submission_submit
from podium import numbers
from podium.http import AuthenticatedRequest
from uploads.services import upload_request_length_check

ERRORS = {
    400: OpenApiResponse(description="A rule was broken: `detail` says which, `code` names it."),
    404: OpenApiResponse(description="No such object, or not yours to see."),
}


class Pagination(PageNumberPagination):
    """`?page=N&page_size=M` on the lists that grow (competitions, submissions)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


# Competitions and data


class CompetitionListApi(generics.ListAPIView):
    serializer_class = CompetitionSerializer
    pagination_class = Pagination

    def get_queryset(self) -> Any:
        return selectors.competition_list(user=self.request.user)


class CompetitionDetailApi(APIView):
    @extend_schema(responses={200: CompetitionSerializer, 404: ERRORS[404]})
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        return Response(CompetitionSerializer(competition).data)


class CompetitionJoinApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: TeamSerializer, **ERRORS})
    def post(self, request: AuthenticatedRequest, slug: str) -> Response:
        team = teams_services.competition_join(
            user=request.user, competition=selectors.competition_get(slug=slug, user=request.user)
        )
        return Response({"id": team.pk, "name": team.name})


class CompetitionFilesApi(APIView):
    @extend_schema(
        responses={
            200: CompetitionFileSerializer(many=True),
            403: OpenApiResponse(description="Not joined: accept the rules first."),
            404: ERRORS[404],
        }
    )
    def get(self, request: Request, slug: str) -> Response:
        """The downloadable files; 403 until the caller joined (accepted the rules)."""
        competition = selectors.competition_get(slug=slug, user=request.user)
        if not selectors.data_download_allowed(user=request.user, competition=competition):
            raise PermissionDenied(
                f"Join {competition.title} (accept its rules) to download its data: "
                f"POST /api/v1/competitions/{competition.slug}/join/ or `podium "
                f"competitions join {competition.slug}`."
            )
        files = selectors.competition_files_for_user(
            user=request.user, competition=competition
        ).select_related("competition")
        return Response(
            CompetitionFileSerializer(files, many=True, context={"request": request}).data
        )


class CompetitionFileDownloadApi(APIView):
    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: ERRORS[404],
        }
    )
    def get(self, request: Request, slug: str, pk: int) -> FileResponse:
        competition = selectors.competition_get(slug=slug, user=request.user)
        record = selectors.competition_file_get_for_user(
            user=request.user, competition=competition, pk=pk
        )
        response = FileResponse(
            record.file.open("rb"),
            as_attachment=True,
            filename=record.safe_name.replace("/", "_"),
            content_type="application/octet-stream",
        )
        response["X-Podium-Sha256"] = record.sha256
        return response


# Teams


class TeamApi(APIView):
    permission_classes = [IsAuthenticated]

    def _render(self, team: Any) -> dict[str, Any]:
        return TeamDetailSerializer(
            {
                "id": team.pk,
                "name": team.name,
                "competition": team.competition.slug,
                "members": selectors.team_members(team=team),
                "quota": submissions_services.submission_quota(team=team),
            }
        ).data

    @extend_schema(responses={200: TeamDetailSerializer, 404: ERRORS[404]})
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        return Response(
            self._render(selectors.team_get_for_user(user=request.user, competition=competition))
        )

    @extend_schema(request=TeamRenameSerializer, responses={200: TeamDetailSerializer, **ERRORS})
    def patch(self, request: AuthenticatedRequest, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        team = selectors.team_get_for_user(user=request.user, competition=competition)
        serializer = TeamRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = teams_services.team_rename(
            user=request.user, team=team, name=serializer.validated_data["name"]
        )
        return Response(self._render(team))


class TeamInvitationsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: InvitationSerializer(many=True), 404: ERRORS[404]})
    def get(self, request: Request, slug: str) -> Response:
        team = selectors.team_get_for_user(
            user=request.user, competition=selectors.competition_get(slug=slug, user=request.user)
        )
        invitations = selectors.invitations_for_team(team=team).select_related("team__competition")
        return Response(InvitationSerializer(invitations, many=True).data)

    @extend_schema(
        request=InvitationCreateSerializer, responses={201: InvitationSerializer, **ERRORS}
    )
    def post(self, request: AuthenticatedRequest, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        team = selectors.team_get_for_user(user=request.user, competition=competition)
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = teams_services.team_invite(
            user=request.user,
            team=team,
            invitee_username=serializer.validated_data["username"],
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class TeamMergeRequestsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MergeRequestSerializer(many=True), 404: ERRORS[404]})
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        team = selectors.team_get_for_user(user=request.user, competition=competition)
        return Response(
            MergeRequestSerializer(selectors.merge_requests_for_team(team=team), many=True).data
        )

    @extend_schema(
        request=MergeRequestCreateSerializer, responses={201: MergeRequestSerializer, **ERRORS}
    )
    def post(self, request: AuthenticatedRequest, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        team = selectors.team_get_for_user(user=request.user, competition=competition)
        serializer = MergeRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        merge = teams_services.team_merge_request(
            user=request.user,
            team=team,
            target_team_name=serializer.validated_data["target_team"],
        )
        return Response(MergeRequestSerializer(merge).data, status=status.HTTP_201_CREATED)


class MergeRequestRespondApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=RespondSerializer, responses={200: MergeRequestSerializer, **ERRORS})
    def post(self, request: AuthenticatedRequest, slug: str, pk: int) -> Response:
        serializer = RespondSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = selectors.team_get_for_user(
            user=request.user, competition=selectors.competition_get(slug=slug, user=request.user)
        )
        merge = teams_services.team_merge_respond(
            user=request.user,
            merge_request=selectors.merge_request_get_for_team(team=team, pk=pk),
            accept=serializer.validated_data["accept"],
        )
        return Response(MergeRequestSerializer(merge).data)


class InvitationListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("competition", str, description="A competition's slug.")],
        responses={200: InvitationSerializer(many=True), 404: ERRORS[404]},
    )
    def get(self, request: Request) -> Response:
        slug = request.query_params.get("competition")
        competition = selectors.competition_get(slug=slug, user=request.user) if slug else None
        invitations = selectors.invitations_for_user(user=request.user, competition=competition)
        return Response(InvitationSerializer(invitations, many=True).data)


class InvitationRespondApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=RespondSerializer, responses={200: InvitationSerializer, **ERRORS})
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        serializer = RespondSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = teams_services.team_invitation_respond(
            user=request.user,
            invitation=selectors.invitation_get_for_user(user=request.user, pk=pk),
            accept=serializer.validated_data["accept"],
        )
        return Response(InvitationSerializer(invitation).data)


class InvitationCancelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: InvitationSerializer, **ERRORS})
    def post(self, request: AuthenticatedRequest, slug: str, pk: int) -> Response:
        team = selectors.team_get_for_user(
            user=request.user, competition=selectors.competition_get(slug=slug, user=request.user)
        )
        invitation = teams_services.team_invitation_cancel(
            user=request.user,
            invitation=selectors.invitation_get_for_team(team=team, pk=pk),
        )
        return Response(InvitationSerializer(invitation).data)


# Submissions


class CompetitionSubmissionsApi(generics.GenericAPIView):
    serializer_class = SubmissionSerializer
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    pagination_class = Pagination

    @extend_schema(responses={200: SubmissionSerializer(many=True), 404: ERRORS[404]})
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        submissions = selectors.submissions_for_user(user=request.user, competition=competition)
        page = self.paginate_queryset(submissions)
        return self.get_paginated_response(SubmissionSerializer(page, many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": SubmissionCreateSerializer,
            "application/json": SubmissionCreateSerializer,
        },
        responses={201: SubmissionCreatedSerializer, **ERRORS},
    )
    def post(self, request: AuthenticatedRequest, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        if request.content_type.startswith("multipart/"):
            # Judge the declared length before request.data reads the body to disk.
            upload_request_length_check(
                competition=competition, content_length=request.META.get("CONTENT_LENGTH")
            )
        serializer = SubmissionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        submission = submission_submit(
            user=request.user,
            competition=competition,
            image=data.get("image") or data.get("code"),
            upload_id=data.get("upload"),
            sha256=data.get("sha256"),
            description=data.get("description", ""),
            debug=data["debug"],
            runtime_image=data.get("runtime_image") or None,
        )
        return Response(_created(submission), status=status.HTTP_201_CREATED)


def _created(submission: Submission) -> dict[str, Any]:
    runtime = submission.runtime_image
    return {
        "id": submission.pk,
        "status": submission.status,
        "runtime_image": runtime.name if runtime is not None else None,
    }


def _submission_response(request: Request, submission: Submission) -> Response:
    # Services return the row as stored; what the user may see of it (the private score
    # before the reveal) is decided by the selector, so read it again through that.
    submission = selectors.submission_get_for_user(user=request.user, pk=submission.pk)
    context = {
        "queue_position": selectors.submission_queue_position(submission=submission),
        "rank": leaderboards.submission_public_rank(
            competition=submission.competition, submission=submission
        ),
    }
    return Response(SubmissionDetailSerializer(submission, context=context).data)


class SubmissionDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: SubmissionDetailSerializer, 404: ERRORS[404]})
    def get(self, request: Request, pk: int) -> Response:
        submission = selectors.submission_get_for_user(user=request.user, pk=pk)
        return _submission_response(request, submission)


class SubmissionLogApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            200: SubmissionLogSerializer,
            403: OpenApiResponse(description="This competition hides run logs."),
            404: ERRORS[404],
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        submission = selectors.submission_get_for_user(user=request.user, pk=pk)
        log = selectors.submission_log_for_user(user=request.user, submission=submission)
        if log is None:
            raise PermissionDenied(
                "The organizers hide the logs of scored runs in this competition, so that "
                "test inputs cannot leak through them. Make a debug run to see a full log on a "
                "public sample (the API's `debug` field, or the Submit page's debug checkbox)."
            )
        return Response({"id": submission.pk, "log": log})


class SubmissionCancelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: SubmissionDetailSerializer, **ERRORS})
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        submission = selectors.submission_get_for_user(user=request.user, pk=pk)
        submission = submissions_services.submission_cancel(
            user=request.user, submission=submission
        )
        return _submission_response(request, submission)


class SubmissionRerunApi(APIView):
    """Run a submission's kept image or code archive again, without uploading it."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=SubmissionRerunSerializer, responses={201: SubmissionCreatedSerializer, **ERRORS}
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        serializer = SubmissionRerunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = selectors.submission_get_for_user(user=request.user, pk=pk)
        submission = submission_rerun(
            user=request.user,
            source=source,
            description=serializer.validated_data.get("description", ""),
            debug=serializer.validated_data["debug"],
        )
        return Response(_created(submission), status=status.HTTP_201_CREATED)


class SubmissionSelectApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=SubmissionSelectSerializer, responses={200: SubmissionDetailSerializer, **ERRORS}
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        serializer = SubmissionSelectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submission = selectors.submission_get_for_user(user=request.user, pk=pk)
        submission = submissions_services.submission_select(
            user=request.user,
            submission=submission,
            selected=serializer.validated_data["selected"],
        )
        return _submission_response(request, submission)


# Leaderboards


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    return numbers.whole_number(raw, name=name, minimum=1)


def _when(value: dt.datetime, zone: dt.tzinfo) -> str:
    """An aware time as DRF's DateTimeField writes it (ISO 8601 in ``zone``, "Z" for UTC),
    without the field's per-call machinery: a board has a hundred of them per page."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _entry_row(e: leaderboards.LeaderboardEntry, zone: dt.tzinfo) -> dict[str, Any]:
    return {
        "rank": e.rank,
        "team": e.team,
        "score": e.score,
        "submissions": e.submissions,
        "last_submission": _when(e.last_submission, zone) if e.last_submission else None,
        "ci_low": e.ci_low,
        "ci_high": e.ci_high,
        "not_significant_vs_next": e.not_significant_vs_next,
        "public_rank": e.public_rank,
        "additional_scores": dict(e.additional),
    }


class LeaderboardApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=["public", "private"]),
            OpenApiParameter("page", int, description="1-based; default 1"),
            OpenApiParameter(
                "page_size",
                int,
                description=f"default {leaderboards.PAGE_SIZE}, at most "
                f"{leaderboards.PAGE_SIZE_MAX}",
            ),
        ],
        responses={200: LeaderboardSerializer, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        kind = request.query_params.get("kind", leaderboards.LeaderboardKind.PUBLIC)
        board = leaderboards.leaderboard_page_for_user(
            user=request.user,
            competition=competition,
            kind=kind,
            page=_int_param(request, "page", 1),
            page_size=_int_param(request, "page_size", leaderboards.PAGE_SIZE),
            team=selectors.team_for_user(user=request.user, competition=competition),
        )
        # Plain dicts, not LeaderboardSerializer(many=True): DRF's per-field machinery
        # costs more than reading the page. The shape is the serializer's.
        zone = timezone.get_current_timezone()
        return Response(
            {
                "competition": competition.slug,
                "kind": kind,
                "metric": competition.metric,
                "additional_metrics": [
                    {"name": name, "title": title}
                    for name, title in leaderboards.additional_columns(competition)
                ],
                "page": board.page,
                "page_size": board.page_size,
                "total": board.total,
                "entries": [_entry_row(e, zone) for e in board.entries],
                "own": None if board.own is None else _entry_row(board.own, zone),
            }
        )


class LeaderboardCsvApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=["public", "private"])],
        responses={(200, "text/csv"): OpenApiTypes.STR, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        competition = selectors.competition_get(slug=slug, user=request.user)
        kind = request.query_params.get("kind", leaderboards.LeaderboardKind.PUBLIC)
        lines = leaderboards.leaderboard_csv_for_user(
            user=request.user, competition=competition, kind=kind
        )
        return leaderboard_csv_response(lines, competition, kind)


class ShakeupApi(APIView):
    @extend_schema(responses={200: ShakeupEntrySerializer(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug, user=request.user)
        moves = leaderboards.shakeup_for_user(user=request.user, competition=competition)
        return Response(ShakeupEntrySerializer(moves, many=True).data)


# Account


def _token_payload(token: Token | None) -> dict[str, Any]:
    return {"token": token.key if token else None, "created": token.created if token else None}


class AccountTokenApi(APIView):
    """The token the `podium` client authenticates with; a POST replaces it."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TokenSerializer)
    def get(self, request: Request) -> Response:
        return Response(_token_payload(selectors.token_for_user(user=request.user)))

    @extend_schema(request=None, responses={201: TokenSerializer})
    def post(self, request: AuthenticatedRequest) -> Response:
        token = accounts_services.account_token_rotate(user=request.user)
        return Response(_token_payload(token), status=status.HTTP_201_CREATED)
