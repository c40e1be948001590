"""API representations: they only shape what the selectors already decided to show
(the selectors blank private scores before the reveal, and pick the visible rows)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework import serializers

from competitions.models import (
    Competition,
    CompetitionFile,
    RuntimeImage,
    Submission,
    Team,
    TeamInvitation,
    TeamMergeRequest,
)
from competitions.services.runtime_images import competition_runtime_images


class CompetitionSerializer(serializers.ModelSerializer):
    is_open = serializers.BooleanField(read_only=True)
    has_ended = serializers.BooleanField(read_only=True)
    private_leaderboard_visible = serializers.BooleanField(read_only=True)
    runtime_images = serializers.SerializerMethodField(
        help_text="The runtime images code may run on, the default first (build FROM it; "
        "code submitted without a runtime_image runs on it); empty: images only."
    )

    class Meta:
        model = Competition
        fields = [
            "slug",
            "title",
            "overview",
            "rules",
            "start",
            "end",
            "is_open",
            "has_ended",
            "private_leaderboard_visible",
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
            "total_submission_limit",
            "max_concurrent_runs",
            "max_team_size",
            "merger_deadline",
            "final_selections",
            "log_visibility",
            "debug_sample_rows",
            "runtime_images",
        ]

    def get_runtime_images(self, obj: Competition) -> list[str]:
        return [i.name for i in competition_runtime_images(competition=obj)]


class CompetitionFileSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="safe_name", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = CompetitionFile
        fields = ["id", "kind", "name", "size", "sha256", "created_at", "download_url"]

    def get_download_url(self, obj: CompetitionFile) -> str:
        path = reverse(
            "api-competition-file-download", kwargs={"slug": obj.competition.slug, "pk": obj.pk}
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class SubmissionSerializer(serializers.ModelSerializer):
    """A submission as its team sees it; give it objects from competitions.selectors,
    which hold only what the user may see of the run (competitions.run_reports)."""

    competition: serializers.SlugRelatedField[Competition] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    team: serializers.StringRelatedField[Team] = serializers.StringRelatedField()
    user: serializers.StringRelatedField[User] = serializers.StringRelatedField()
    exit_status = serializers.SerializerMethodField(
        help_text='"zero", "non-zero" or null (no exit yet); exit_code itself is null for a '
        "scored run's non-zero exit unless the organizers show run logs."
    )
    note = serializers.SerializerMethodField(
        help_text="A remark on the result, e.g. that a valid debug run is not scored."
    )
    status_display = serializers.CharField(
        source="status_label",
        read_only=True,
        help_text='The status in the words the site uses: "Checked" for a debug run whose '
        'predictions are valid (status "scored": validated, not scored against hidden labels).',
    )
    runtime_image: serializers.StringRelatedField[RuntimeImage] = serializers.StringRelatedField(
        help_text="What a code submission ran on (null for an image)."
    )
    artifact_kept = serializers.SerializerMethodField(
        help_text="Whether its image or code archive is kept, so it can run again."
    )
    public_additional_scores = serializers.SerializerMethodField(
        help_text="The competition's additional metrics (shown, never ranked) on the public "
        'part: {"metric name": score}; null where a metric cannot be computed on these '
        "predictions; empty until scored."
    )
    private_additional_scores = serializers.SerializerMethodField(
        help_text="The same on the private part; empty while the private scores are hidden."
    )

    class Meta:
        model = Submission
        fields = [
            "id",
            "competition",
            "team",
            "user",
            "created_at",
            "description",
            "is_late",
            "is_debug",
            "is_selected",
            "status",
            "status_display",
            "failure_kind",
            "failure_message",
            "public_score",
            "private_score",
            "public_additional_scores",
            "private_additional_scores",
            "image_sha256",
            "image_size",
            "kind",
            "runtime_image",
            "rerun_of",
            "artifact_kept",
            "started_at",
            "finished_at",
            "duration_seconds",
            "cpu_seconds",
            "peak_memory_bytes",
            "exit_code",
            "exit_status",
            "note",
        ]

    def _report(self, obj: Submission) -> Any:
        report = getattr(obj, "run_report", None)
        if report is None:  # not from a selector: show nothing a run controls
            raise RuntimeError("Serialize submissions from competitions.selectors only.")
        return report

    def get_exit_status(self, obj: Submission) -> str | None:
        return self._report(obj).exit_status

    def get_note(self, obj: Submission) -> str:
        return self._report(obj).note

    def get_public_additional_scores(self, obj: Submission) -> dict[str, float | None]:
        return self._report(obj).public_additional

    def get_private_additional_scores(self, obj: Submission) -> dict[str, float | None]:
        return self._report(obj).private_additional

    def get_artifact_kept(self, obj: Submission) -> bool:
        return obj.image_deleted_at is None and bool(obj.image)


class SubmissionDetailSerializer(SubmissionSerializer):
    queue_position = serializers.SerializerMethodField(
        help_text="1 = next to run; null unless queued."
    )

    public_rank = serializers.SerializerMethodField(
        help_text="The rank this submission's public score takes on the public leaderboard "
        "(1 = first); null unless scored, ranked (not debug, not late)."
    )
    public_rank_teams = serializers.SerializerMethodField(
        help_text="How many teams that ranking counts (this team included); null as above."
    )

    class Meta(SubmissionSerializer.Meta):
        fields = [
            *SubmissionSerializer.Meta.fields,
            "queue_position",
            "public_rank",
            "public_rank_teams",
        ]

    def get_queue_position(self, obj: Submission) -> int | None:
        return self.context.get("queue_position")

    def get_public_rank(self, obj: Submission) -> int | None:
        rank = self.context.get("rank")
        return rank.rank if rank else None

    def get_public_rank_teams(self, obj: Submission) -> int | None:
        rank = self.context.get("rank")
        return rank.teams if rank else None


class SubmissionCreateSerializer(serializers.Serializer):
    SOURCES = ("image", "code", "upload", "sha256")

    image = serializers.FileField(
        required=False,
        help_text="`docker save` output, optionally gzip-compressed. Give one of `image`, "
        "`code`, `upload` and `sha256`.",
    )
    code = serializers.FileField(
        required=False,
        help_text="A zip or tar.gz of source with main.py or an executable run.sh at its "
        "root, run on `runtime_image`. The kind is judged from the file's bytes either way.",
    )
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        help_text="The SHA-256 of an image or code archive your team already uploaded and "
        "the server still keeps: runs it again without sending it.",
    )
    runtime_image = serializers.CharField(
        required=False,
        max_length=200,
        allow_blank=True,
        help_text="For code: a runtime image the competition allows (default: the "
        "competition's default, first in its runtime_images).",
    )
    upload = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The id of a finished resumable upload (/api/v1/uploads/) instead of `image`.",
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    debug = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Run on a small public sample with full logs; never ranked, never counted.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if sum(name in attrs for name in self.SOURCES) != 1:
            raise serializers.ValidationError(
                {
                    "image": [
                        "Send the image archive as `image`, a code archive as `code`, the id "
                        "of a finished upload as `upload`, or the SHA-256 of an artifact your "
                        "team already uploaded as `sha256` (exactly one of them)."
                    ]
                }
            )
        return attrs


class SubmissionRerunSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    debug = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Run it again as a debug run (a public sample, full log, never counted).",
    )


class SubmissionCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    runtime_image = serializers.CharField(
        allow_null=True,
        help_text="What the code runs on (the competition's default unless one was named); "
        "null for an image.",
    )


class SubmissionSelectSerializer(serializers.Serializer):
    selected = serializers.BooleanField(
        default=True, help_text="true: make it a final submission; false: unselect it."
    )


class SubmissionLogSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    log = serializers.CharField(allow_blank=True)


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TeamMemberSerializer(serializers.Serializer):
    username = serializers.CharField()


class QuotaSerializer(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()
    total_used = serializers.IntegerField(required=False)
    total_limit = serializers.IntegerField(required=False, allow_null=True)
    running = serializers.IntegerField(required=False)
    max_concurrent = serializers.IntegerField(required=False, allow_null=True)
    next_allowed_at = serializers.DateTimeField(required=False, allow_null=True)
    debug_used = serializers.IntegerField(required=False, help_text="Debug runs today (UTC).")
    debug_limit = serializers.IntegerField(required=False, help_text="Debug runs a UTC day.")


class TeamDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    competition = serializers.CharField()
    members = TeamMemberSerializer(many=True)
    quota = QuotaSerializer()


class TeamRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class InvitationSerializer(serializers.ModelSerializer):
    competition = serializers.CharField(source="team.competition.slug", read_only=True)
    team: serializers.StringRelatedField[Team] = serializers.StringRelatedField()
    invitee: serializers.StringRelatedField[User] = serializers.StringRelatedField()
    invited_by: serializers.StringRelatedField[User] = serializers.StringRelatedField()

    class Meta:
        model = TeamInvitation
        fields = [
            "id",
            "competition",
            "team",
            "invitee",
            "invited_by",
            "status",
            "created_at",
            "responded_at",
        ]


class InvitationCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class RespondSerializer(serializers.Serializer):
    accept = serializers.BooleanField()


class MergeRequestSerializer(serializers.ModelSerializer):
    # DRF's serializer metaclass takes declared fields off the class, so this field does not
    # replace Field.source (the attribute path) as the stubs' class attribute says it would.
    source: serializers.StringRelatedField[Team] = serializers.StringRelatedField()  # type: ignore[assignment]
    target: serializers.StringRelatedField[Team] = serializers.StringRelatedField()
    requested_by: serializers.StringRelatedField[User] = serializers.StringRelatedField()

    class Meta:
        model = TeamMergeRequest
        fields = ["id", "source", "target", "requested_by", "status", "created_at", "responded_at"]


class MergeRequestCreateSerializer(serializers.Serializer):
    target_team = serializers.CharField(max_length=100, help_text="The name of the team to join.")


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    team = serializers.CharField()
    score = serializers.FloatField()
    submissions = serializers.IntegerField()
    last_submission = serializers.DateTimeField(allow_null=True)
    # Present once the leaderboard computes them (bootstrap interval of the score, whether
    # the gap to the next team is significant, the team's rank on the public board).
    ci_low = serializers.FloatField(allow_null=True, required=False)
    ci_high = serializers.FloatField(allow_null=True, required=False)
    not_significant_vs_next = serializers.BooleanField(required=False)
    public_rank = serializers.IntegerField(allow_null=True, required=False)
    additional_scores = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        required=False,
        help_text="The additional metrics of the ranked submission on this board's part "
        '(shown, never ranked): {"metric name": score}; null where not computable.',
    )


class AdditionalMetricSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The registry name, e.g. qa_exact_match.")
    title = serializers.CharField(help_text="The display name, e.g. Exact match.")


class LeaderboardSerializer(serializers.Serializer):
    competition = serializers.CharField()
    kind = serializers.ChoiceField(choices=["public", "private"])
    metric = serializers.CharField()
    additional_metrics = AdditionalMetricSerializer(
        many=True, help_text="The columns shown next to the score, in order; never ranked."
    )
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Teams on the board.")
    entries = LeaderboardEntrySerializer(many=True)
    own = LeaderboardEntrySerializer(
        allow_null=True, help_text="The reader's team's entry, wherever it ranks."
    )


class ShakeupEntrySerializer(serializers.Serializer):
    team = serializers.CharField()
    public_rank = serializers.IntegerField(allow_null=True)
    private_rank = serializers.IntegerField()
    delta = serializers.IntegerField(
        allow_null=True, help_text="Places gained from the public to the private board."
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(allow_null=True, help_text="null until one is created.")
    created = serializers.DateTimeField(allow_null=True)
