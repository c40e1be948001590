"""API representations. Private scores are blanked here from the selectors' verdict."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from competitions.models import Competition, Submission


class CompetitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Competition
        fields = [
            "slug",
            "title",
            "overview",
            "rules",
            "start",
            "end",
            "metric",
            "id_column",
            "target_columns",
            "public_fraction",
            "memory_limit_bytes",
            "cpu_limit",
            "gpu_limit",
            "time_limit_seconds",
            "image_size_limit_bytes",
            "daily_submission_limit",
            "max_team_size",
            "final_selections",
        ]


class SubmissionSerializer(serializers.ModelSerializer):
    competition = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team = serializers.StringRelatedField()
    private_score = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "competition",
            "team",
            "created_at",
            "description",
            "is_late",
            "status",
            "failure_kind",
            "failure_message",
            "public_score",
            "private_score",
            "image_sha256",
            "image_size",
            "started_at",
            "finished_at",
            "duration_seconds",
            "cpu_seconds",
            "peak_memory_bytes",
            "exit_code",
        ]

    def get_private_score(self, obj: Submission) -> float | None:
        visible: dict[int, bool] = self.context["private_visible"]
        return obj.private_score if visible.get(obj.competition_id) else None


class SubmissionCreateSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="`docker save` output, optionally gzip-compressed.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class SubmissionCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    team = serializers.CharField()
    score = serializers.FloatField()
    submissions = serializers.IntegerField()
    last_submission = serializers.DateTimeField(allow_null=True)


class LeaderboardSerializer(serializers.Serializer):
    competition = serializers.CharField()
    kind = serializers.CharField()
    metric = serializers.CharField()
    entries = LeaderboardEntrySerializer(many=True)

    def to_representation(self, instance: dict[str, Any]) -> dict[str, Any]:
        return super().to_representation(instance)
