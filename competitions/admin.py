"""The organizer's side: define competitions, upload their files, watch submissions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from competitions.models import Competition, CompetitionFile, Submission, Team, TeamMembership
from competitions.services import competition_file_delete, competition_file_store
from podium.errors import ApplicationError
from podium.units import format_duration, format_size


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
            {"fields": ("daily_submission_limit", "max_team_size", "final_selections")},
        ),
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
        "public_score",
        "private_score",
        "duration_seconds",
        "is_late",
    )
    list_filter = ("competition", "status", "failure_kind", "is_late")
    search_fields = ("team__name", "user__username", "description", "image_sha256")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Submission._meta.fields]
    actions = ["requeue"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Run again (queue the selected failed submissions)")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        from scoring.tasks import enqueue_evaluation

        failed = queryset.filter(status=Submission.Status.FAILED)
        ids = list(failed.values_list("pk", flat=True))
        failed.update(status=Submission.Status.QUEUED, failure_kind="", failure_message="")
        for pk in ids:
            enqueue_evaluation(pk)
        self.message_user(request, f"Queued {len(ids)} submission(s) again.")
