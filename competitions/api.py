"""REST API v1 (paths and field names are fixed by shared/DESIGN.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions import selectors
from competitions.serializers import (
    CompetitionSerializer,
    LeaderboardSerializer,
    SubmissionCreatedSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
    TeamSerializer,
)
from competitions.services import competition_join, submission_create


class CompetitionListApi(generics.ListAPIView):
    serializer_class = CompetitionSerializer

    def get_queryset(self):
        return selectors.competition_list()


class CompetitionDetailApi(APIView):
    @extend_schema(responses=CompetitionSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(CompetitionSerializer(selectors.competition_get(slug=slug)).data)


class CompetitionJoinApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=TeamSerializer)
    def post(self, request: Request, slug: str) -> Response:
        team = competition_join(user=request.user, competition=selectors.competition_get(slug=slug))
        return Response({"id": team.pk, "name": team.name})


class CompetitionSubmissionsApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=SubmissionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug)
        submissions = selectors.submissions_for_user(user=request.user, competition=competition)
        visible = {
            competition.pk: selectors.private_scores_visible(
                user=request.user, competition=competition
            )
        }
        data = SubmissionSerializer(
            submissions, many=True, context={"private_visible": visible}
        ).data
        return Response(data)

    @extend_schema(request=SubmissionCreateSerializer, responses={201: SubmissionCreatedSerializer})
    def post(self, request: Request, slug: str) -> Response:
        serializer = SubmissionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submission = submission_create(
            user=request.user,
            competition=selectors.competition_get(slug=slug),
            image=serializer.validated_data["image"],
            description=serializer.validated_data.get("description", ""),
        )
        return Response(
            {"id": submission.pk, "status": submission.status}, status=status.HTTP_201_CREATED
        )


class SubmissionDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SubmissionSerializer)
    def get(self, request: Request, pk: int) -> Response:
        submission = selectors.submission_get_for_user(user=request.user, pk=pk)
        visible = {
            submission.competition_id: selectors.private_scores_visible(
                user=request.user, competition=submission.competition
            )
        }
        return Response(SubmissionSerializer(submission, context={"private_visible": visible}).data)


class LeaderboardApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=["public", "private"])],
        responses=LeaderboardSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = selectors.competition_get(slug=slug)
        kind = request.query_params.get("kind", selectors.LeaderboardKind.PUBLIC)
        entries = selectors.leaderboard_for_user(
            user=request.user, competition=competition, kind=kind
        )
        return Response(
            LeaderboardSerializer(
                {
                    "competition": competition.slug,
                    "kind": kind,
                    "metric": competition.metric,
                    "entries": entries,
                }
            ).data
        )
