"""The organizer's side: define competitions, upload their files, watch submissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from competitions.admin_files import FORMFIELD_OVERRIDES, stored_file_download, stored_file_html
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
from competitions.services.publication import competition_publish
from podium.errors import ApplicationError
from podium.units import format_duration, format_size

# Above this many submissions a rescore runs as a Celery task, not inside the request.
RESCORE_INLINE_LIMIT = 200


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


class ConfirmedActionsMixin:
    """Consequential actions go through a confirmation page (Django's intermediate page
    pattern): the first request, from the changelist's action menu or from the object's
    own button (GET), shows what will happen and changes nothing; only the page's POST
    with confirm=yes acts. Subclasses describe each action in `confirmations`:
    name -> (title, confirm label, function of the queryset giving one line per object).
    """

    confirmations: dict[str, tuple[str, str, Callable[[Any], list[str]]]] = {}

    def _confirmation(
        self, request: HttpRequest, queryset: QuerySet, name: str, *, from_changelist: bool
    ) -> TemplateResponse | None:
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            return None
        title, label, describe = self.confirmations[name]
        model_admin: Any = self
        return TemplateResponse(
            request,
            "admin/podium_confirm_action.html",
            {
                **model_admin.admin_site.each_context(request),
                "title": title,
                "question": f"{title}: please confirm.",
                "consequences": describe(queryset),
                "confirm_label": label,
                "queryset": queryset,
                "action": name if from_changelist else "",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": model_admin.model._meta,
                "nothing_to_do": not queryset.exists(),
            },
        )

    def confirm_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        """GET: the confirmation page of one object's action; POST confirm=yes: do it."""
        model_admin: Any = self
        if name not in self.confirmations:
            raise Http404("No such action.")
        obj = model_admin.get_object(request, object_id)
        if obj is None:
            raise Http404("No such object.")
        if not model_admin.has_change_permission(request, obj):
            raise PermissionDenied
        queryset = model_admin.get_queryset(request).filter(pk=obj.pk)
        page = self._confirmation(request, queryset, name, from_changelist=False)
        if page is not None:
            return page
        getattr(self, name)(request, queryset)
        opts = model_admin.model._meta
        return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)

    def confirm_urls(self) -> list[Any]:
        model_admin: Any = self
        opts = model_admin.model._meta
        return [
            path(
                "<path:object_id>/confirm/<str:name>/",
                model_admin.admin_site.admin_view(self.confirm_view),
                name=f"{opts.app_label}_{opts.model_name}_confirm",
            )
        ]


def _publish_lines(queryset: QuerySet[Competition]) -> list[str]:
    lines = []
    for c in queryset:
        if c.is_published:
            lines.append(f"{c.title} is already published (since {_when(c.published_at)}).")
            continue
        when = (
            f"it is open now (closes {_when(c.end)})"
            if c.is_open
            else (f"it opens at {_when(c.start)}" if not c.has_ended else "it has already ended")
        )
        lines.append(
            f"{c.title} becomes visible to everybody (lists, pages, API, CLI); {when}. "
            "Its data is validated first: if it is invalid, it stays a draft."
        )
    return lines


def _reveal_lines(queryset: QuerySet[Competition]) -> list[str]:
    lines = []
    for c in queryset:
        if c.is_open:
            lines.append(
                f"{c.title} is still open (closes {_when(c.end)}): revealing now shows every "
                "team the private scores before the end."
            )
        elif c.has_ended:
            lines.append(f"{c.title} has ended ({_when(c.end)}): private scores are shown.")
        else:
            lines.append(f"{c.title} has not started yet (opens {_when(c.start)}).")
    return lines


def _hide_lines(queryset: QuerySet[Competition]) -> list[str]:
    return [
        f"{c.title} has ended: its private leaderboard stays public anyway."
        if c.has_ended
        else f"{c.title}: private scores are hidden from participants again until the end."
        for c in queryset
    ]


def _rescore_lines(queryset: QuerySet[Competition]) -> list[str]:
    lines = []
    for c in queryset:
        count = c.submissions.count()
        where = " (in the background)" if count > RESCORE_INLINE_LIMIT else ""
        lines.append(
            f"{c.title}: its {count} submission(s) are scored again{where} from their kept "
            "predictions against the current solution; scores and ranks may change."
        )
    return lines


def _requeue_lines(queryset: QuerySet[Submission]) -> list[str]:
    return [
        f"Submission {s.pk} of team {s.team} in {s.competition} failed "
        f"({s.get_failure_kind_display()}): it runs again."
        if s.status == Submission.Status.FAILED
        else f"Submission {s.pk} is {s.get_status_display().lower()}: not requeued "
        "(only failed submissions are)."
        for s in queryset.select_related("team", "competition")
    ]


class CompetitionFileInline(admin.TabularInline):
    model = CompetitionFile
    extra = 1
    formfield_overrides = FORMFIELD_OVERRIDES
    fields = ("kind", "name", "file", "size", "sha256", "created_at")
    readonly_fields = ("size", "sha256", "created_at")


@admin.register(Competition)
class CompetitionAdmin(ConfirmedActionsMixin, admin.ModelAdmin):
    list_display = (
        "title",
        "slug",
        "state",
        "start",
        "end",
        "metric",
        "limits",
        "submission_count",
    )
    prepopulated_fields = {"slug": ("title",)}
    search_fields = ("title", "slug")
    inlines = [CompetitionFileInline]
    formfield_overrides = FORMFIELD_OVERRIDES
    actions = ["publish", "reveal_private", "hide_private", "rescore"]
    # Changed only through the confirmed, audited actions.
    readonly_fields = ("published_at", "private_revealed_at")
    confirmations = {
        "publish": ("Publish", "Yes, publish", _publish_lines),
        "reveal_private": (
            "Reveal the private leaderboard",
            "Yes, reveal",
            _reveal_lines,
        ),
        "hide_private": ("Hide the private leaderboard", "Yes, hide", _hide_lines),
        "rescore": ("Rescore from kept predictions", "Yes, rescore", _rescore_lines),
    }
    fieldsets = (
        (
            None,
            {
                "fields": ("slug", "title", "overview", "rules", "start", "end", "published_at"),
                "description": "A new competition is a draft: only staff see it, and its "
                "site pages are the participants' preview (View on site). Add its four "
                "files below (training data, test inputs, solution, sample submission), "
                "then Publish. After the end, Reveal the private leaderboard.",
            },
        ),
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

    def get_urls(self) -> list[Any]:
        return [
            path(
                "files/<str:model>/<int:pk>/<str:field>/",
                self.admin_site.admin_view(stored_file_download),
                name="competitions_stored_file",
            ),
            *self.confirm_urls(),
            *super().get_urls(),
        ]

    @admin.display(description="state")
    def state(self, obj: Competition) -> str:
        return "published" if obj.is_published else "draft"

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

    @admin.action(description="Publish (validate the data, then show to everybody)…")
    def publish(self, request: HttpRequest, queryset: QuerySet[Competition]) -> Any:
        page = self._confirmation(request, queryset, "publish", from_changelist=True)
        if page is not None:
            return page
        done = self._each(request, queryset.filter(published_at__isnull=True), competition_publish)
        self.message_user(request, f"Published {done} competition(s).")
        return None

    @admin.action(description="Reveal the private leaderboard…")
    def reveal_private(self, request: HttpRequest, queryset: QuerySet[Competition]) -> Any:
        page = self._confirmation(request, queryset, "reveal_private", from_changelist=True)
        if page is not None:
            return page
        done = self._each(request, queryset, competition_reveal_private)
        self.message_user(request, f"Revealed the private leaderboard of {done} competition(s).")
        return None

    @admin.action(description="Hide the private leaderboard (until the end)…")
    def hide_private(self, request: HttpRequest, queryset: QuerySet[Competition]) -> Any:
        page = self._confirmation(request, queryset, "hide_private", from_changelist=True)
        if page is not None:
            return page
        done = self._each(request, queryset, competition_hide_private)
        self.message_user(
            request,
            f"Hid the private leaderboard of {done} competition(s); after its end a "
            "competition's private leaderboard is public anyway.",
        )
        return None

    @admin.action(description="Rescore from kept predictions (after a solution fix)…")
    def rescore(self, request: HttpRequest, queryset: QuerySet[Competition]) -> Any:
        page = self._confirmation(request, queryset, "rescore", from_changelist=True)
        if page is not None:
            return page
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
        return None

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
    """Read-only: members join, leave and merge through the team services, which hold the
    team rules (team size, one team per competition, merger deadline)."""

    model = TeamMembership
    extra = 0
    fields = ("user", "competition", "rules_accepted_at", "joined_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "competition", "created_at")
    list_filter = ("competition",)
    search_fields = ("name", "memberships__user__username")
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A team never moves to another competition: its members' records say where.
        return ("competition",) if obj is not None else ()


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
class SubmissionAdmin(ConfirmedActionsMixin, admin.ModelAdmin):
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
    # Stored files as name and size with an access-checked link, never a storage URL.
    readonly_fields = [
        *(f.name for f in Submission._meta.fields if f.name not in ("image", "predictions")),
        "image_file",
        "predictions_file",
    ]
    exclude = ("image", "predictions")
    formfield_overrides = FORMFIELD_OVERRIDES
    actions = ["requeue"]
    confirmations = {
        "requeue": ("Run failed submissions again", "Yes, run them again", _requeue_lines)
    }

    def get_urls(self) -> list[Any]:
        return [*self.confirm_urls(), *super().get_urls()]

    @admin.display(description="image")
    def image_file(self, obj: Submission) -> str:
        return stored_file_html(obj.image) or "-"

    @admin.display(description="predictions")
    def predictions_file(self, obj: Submission) -> str:
        return stored_file_html(obj.predictions) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # Keep the queue filter's order (oldest first) instead of the default newest first.
        if request.GET.get("queue"):
            return []
        return ["-created_at"]

    @admin.action(description="Run again (queue the selected failed submissions)…")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Submission]) -> Any:
        page = self._confirmation(request, queryset, "requeue", from_changelist=True)
        if page is not None:
            return page
        try:
            count = submission_requeue(actor=request.user, submissions=queryset)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(request, f"Queued {count} submission(s) again.")
        return None


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records kept for good: viewable, never added, edited or deleted in the admin.
    (A competition that has audit records cannot be deleted in the admin either: the
    admin refuses to delete objects whose related records the user may not delete.)"""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
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
