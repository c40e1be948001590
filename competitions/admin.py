"""The organizer's side: define competitions, upload their files, watch submissions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from competitions.evaluation import workers
from competitions.models import (
    AuditRecord,
    Competition,
    CompetitionFile,
    Submission,
    Team,
    TeamInvitation,
    TeamMembership,
    TeamMergeRequest,
)
from competitions.services import (
    competition_file_delete,
    competition_file_store,
    competition_hide_private,
    competition_rescore,
    competition_reveal_private,
    submission_requeue,
)
from podium.errors import ApplicationError
from podium.units import format_duration, format_size

# Above this many submissions a rescore runs as a Celery task, not inside the request.
RESCORE_INLINE_LIMIT = 200


class CompetitionFileInline(admin.TabularInline):
    model = CompetitionFile
    extra = 1
    fields = ("kind", "name", "file", "size", "sha256", "created_at")
    readonly_fields = ("size", "sha256", "created_at")


@admin.register(Competition)
class CompetitionAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "start", "end", "metric", "limits", "submission_count")
    prepopulated_fields = {"slug": ("title",)}
    search_fields = ("title", "slug")
    inlines = [CompetitionFileInline]
    actions = ["reveal_private", "hide_private", "rescore"]
    fieldsets = (
        (None, {"fields": ("slug", "title", "overview", "rules", "start", "end")}),
        (
            "Scoring",
            {
                "fields": (
                    "metric",
                    "metric_params",
                    "id_column",
                    "target_columns",
                    "public_fraction",
                    "split_seed",
                    "private_revealed_at",
                )
            },
        ),
        (
            "Run limits",
            {
                "fields": (
                    "memory_limit_bytes",
                    "cpu_limit",
                    "gpu_limit",
                    "time_limit_seconds",
                    "image_size_limit_bytes",
                )
            },
        ),
        (
            "Submissions",
            {
                "fields": (
                    "daily_submission_limit",
                    "total_submission_limit",
                    "max_concurrent_runs",
                    "failed_runs_count",
                    "final_selections",
                    "log_visibility",
                    "debug_sample_rows",
                )
            },
        ),
        ("Teams", {"fields": ("max_team_size", "merger_deadline")}),
    )

    def _each(self, request: HttpRequest, queryset: QuerySet[Competition], action: Any) -> int:
        done = 0
        for competition in queryset:
            try:
                action(actor=request.user, competition=competition)
            except ApplicationError as exc:
                self.message_user(request, f"{competition}: {exc.message}", messages.ERROR)
            else:
                done += 1
        return done

    @admin.action(description="Reveal the private leaderboard")
    def reveal_private(self, request: HttpRequest, queryset: QuerySet[Competition]) -> None:
        done = self._each(request, queryset, competition_reveal_private)
        self.message_user(request, f"Revealed the private leaderboard of {done} competition(s).")

    @admin.action(description="Hide the private leaderboard (until the end)")
    def hide_private(self, request: HttpRequest, queryset: QuerySet[Competition]) -> None:
        done = self._each(request, queryset, competition_hide_private)
        self.message_user(
            request,
            f"Hid the private leaderboard of {done} competition(s); after its end a "
            "competition's private leaderboard is public anyway.",
        )

    @admin.action(description="Rescore from kept predictions (after a solution fix)")
    def rescore(self, request: HttpRequest, queryset: QuerySet[Competition]) -> None:
        from scoring.tasks import enqueue_rescore

        for competition in queryset:
            if competition.submissions.count() > RESCORE_INLINE_LIMIT:
                enqueue_rescore(competition.pk, request.user.pk)
                self.message_user(
                    request,
                    f"{competition}: rescoring in the background (scoring.rescore_competition); "
                    "its audit record will show the result.",
                )
                continue
            try:
                count = competition_rescore(actor=request.user, competition=competition)
            except Exception as exc:  # a missing solution, an unreadable file, ...
                self.message_user(request, f"{competition}: {exc}", messages.ERROR)
                continue
            record = competition.audit_records.filter(action=AuditRecord.Action.RESCORE).first()
            details = record.details if record else {}
            self.message_user(
                request,
                f"{competition}: rescored {count} submission(s); {details.get('changed', 0)} "
                f"changed ({details.get('now_failed', 0)} now failed, "
                f"{details.get('now_scored', 0)} now scored).",
            )

    @admin.display(description="limits")
    def limits(self, obj: Competition) -> str:
        return (
            f"{format_size(obj.memory_limit_bytes)}, {obj.cpu_limit:g} CPU, "
            f"{obj.gpu_limit} GPU, {format_duration(obj.time_limit_seconds)}"
        )

    @admin.display(description="submissions")
    def submission_count(self, obj: Competition) -> int:
        return obj.submissions.count()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Store uploaded data files through the service, which fixes the solution's
        public/private split and records each file's checksum."""
        if formset.model is not CompetitionFile:
            super().save_formset(request, form, formset, change)
            return
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            competition_file_delete(competition_file=obj)
        for obj in instances:
            upload = obj.file.file if obj.file and not obj.file._committed else None
            if upload is None:
                obj.save()
                continue
            try:
                competition_file_store(
                    competition=form.instance,
                    kind=obj.kind,
                    name=obj.name or upload.name,
                    content=upload,
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = ("user", "competition", "rules_accepted_at", "joined_at")
    readonly_fields = ("joined_at",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "competition", "created_at")
    list_filter = ("competition",)
    search_fields = ("name", "memberships__user__username")
    inlines = [MembershipInline]


class QueueFilter(admin.SimpleListFilter):
    """The queue overview: what runs where, and what waits in order."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("running", "Running (by start)"),
            ("waiting", "Waiting (in order)"),
            ("active", "Running and waiting"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Submission]) -> Any:
        if self.value() == "running":
            return queryset.filter(status=Submission.Status.RUNNING).order_by("started_at")
        if self.value() == "waiting":
            return queryset.filter(status=Submission.Status.QUEUED).order_by("created_at", "pk")
        if self.value() == "active":
            return queryset.filter(
                status__in=[Submission.Status.RUNNING, Submission.Status.QUEUED]
            ).order_by("-status", "created_at", "pk")
        return queryset


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "competition",
        "team",
        "user",
        "created_at",
        "status",
        "failure_kind",
        "worker",
        "started_at",
        "public_score",
        "private_score",
        "duration_seconds",
        "is_late",
        "is_debug",
        "is_selected",
    )
    list_filter = (QueueFilter, "competition", "status", "failure_kind", "is_late", "is_debug")
    search_fields = ("team__name", "user__username", "description", "image_sha256", "worker")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Submission._meta.fields]
    actions = ["requeue"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if request.GET.get("queue"):
            # The queue page says whether anyone consumes the queue at all.
            health = workers.queue_health()
            level = messages.INFO if workers.live_workers(queue="scoring") else messages.WARNING
            self.message_user(request, health, level)
        return super().changelist_view(request, extra_context)

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # Keep the queue filter's order (oldest first) instead of the default newest first.
        if request.GET.get("queue"):
            return []
        return ["-created_at"]

    @admin.action(description="Run again (queue the selected failed submissions)")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        try:
            count = submission_requeue(actor=request.user, submissions=queryset)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Queued {count} submission(s) again.")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "competition", "action", "actor")
    list_filter = ("competition", "action")


@admin.register(TeamInvitation)
class TeamInvitationAdmin(ReadOnlyAdmin):
    list_display = ("team", "invitee", "invited_by", "status", "created_at", "responded_at")
    list_filter = ("status", "team__competition")


@admin.register(TeamMergeRequest)
class TeamMergeRequestAdmin(ReadOnlyAdmin):
    list_display = ("source", "target", "requested_by", "status", "created_at", "responded_at")
    list_filter = ("status", "source__competition")
