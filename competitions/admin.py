"""The organizer's side: define competitions, upload their files, watch submissions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.urls import path, reverse
from django.utils.html import format_html

from competitions import (
    admin_compute,  # noqa: F401 - registers the organizer compute queues
    standings,
)
from competitions.admin_confirm import (
    RESCORE_INLINE_LIMIT,
    ConfirmedActionsMixin,
    hide_lines,
    publish_lines,
    requeue_lines,
    rescore_lines,
    reveal_lines,
)
from competitions.admin_files import FORMFIELD_OVERRIDES, stored_file_download, stored_file_html
from competitions.admin_forms import (
    CompetitionAdminForm,
    CompetitionFileForm,
    CompetitionFileFormSet,
)
from competitions.evaluation import tasks as evaluation_tasks
from competitions.evaluation import workers
from competitions.models import (
    AuditRecord,
    Competition,
    CompetitionFile,
    RuntimeImage,
    Submission,
    Team,
    TeamInvitation,
    TeamMembership,
    TeamMergeRequest,
)
from competitions.selectors import compute_queues_for_user, submissions_stale
from competitions.services.files import competition_file_delete, competition_file_store
from competitions.services.publication import competition_publish
from competitions.services.results import (
    competition_hide_private,
    competition_rescore,
    competition_reveal_private,
)
from competitions.services.submissions import submission_requeue, submissions_delete
from competitions.services.teams import teams_delete
from podium.errors import ApplicationError
from podium.http import AuthenticatedHttpRequest
from podium.units import format_duration, format_size


class _StoreFailed(Exception):
    """A data file could not be stored after the checks passed: roll the change back."""


class CompetitionFileInline(admin.TabularInline):
    model = CompetitionFile
    form = CompetitionFileForm
    formset = CompetitionFileFormSet
    extra = 1
    formfield_overrides = FORMFIELD_OVERRIDES
    fields = ("kind", "name", "file", "size", "sha256", "created_at")
    readonly_fields = ("size", "sha256", "created_at")


@admin.register(Competition)
class CompetitionAdmin(ConfirmedActionsMixin, admin.ModelAdmin):
    form = CompetitionAdminForm
    list_display = (
        "title",
        "slug",
        "state",
        "start",
        "end",
        "metric",
        "limits",
        "submission_count",
        "stale_scores",
    )
    prepopulated_fields = {"slug": ("title",)}
    search_fields = ("title", "slug")
    inlines = [CompetitionFileInline]
    formfield_overrides = FORMFIELD_OVERRIDES
    actions = ["publish", "reveal_private", "hide_private", "rescore"]
    # Changed only through the confirmed, audited actions.
    readonly_fields = ("published_at", "private_revealed_at")
    confirmations = {
        "publish": ("Publish", "Yes, publish", publish_lines),
        "reveal_private": (
            "Reveal the private leaderboard",
            "Yes, reveal",
            reveal_lines,
        ),
        "hide_private": ("Hide the private leaderboard", "Yes, hide", hide_lines),
        "rescore": ("Rescore from kept predictions", "Yes, rescore", rescore_lines),
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
                    "additional_metrics",
                    "id_column",
                    "target_columns",
                    "public_fraction",
                    "split_seed",
                    "private_revealed_at",
                    "interval_confidence",
                    "interval_resamples",
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
                    "runtime_images",
                    "default_runtime_image",
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

    def save_model(self, request: HttpRequest, obj: Competition, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"metric", "final_selections"} & set(form.changed_data):
            standings.standings_rebuild(competition_id=obj.pk)  # the ranking rules changed

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
    def rescore(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Competition]) -> Any:
        page = self._confirmation(request, queryset, "rescore", from_changelist=True)
        if page is not None:
            return page
        for competition in queryset:
            if competition.submissions.count() > RESCORE_INLINE_LIMIT:
                evaluation_tasks.enqueue_rescore(competition.pk, request.user.pk)
                self.message_user(
                    request,
                    f"{competition}: rescoring in the background (scoring.rescore_competition); "
                    "its audit record will show the result.",
                )
                continue
            try:
                count = competition_rescore(actor=request.user, competition=competition)
            # The metric may be an organizer's plugin, which can raise anything; that, a missing
            # solution or an unreadable file rolls the rescore back and is told here.
            except Exception as exc:  # noqa: BLE001 - an organizer's code or data, told on the page
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

    @admin.display(description="stale scores")
    def stale_scores(self, obj: Competition) -> int:
        return submissions_stale(competition=obj).count()

    def _stale_notice(self, request: HttpRequest, competition: Competition) -> None:
        stale = submissions_stale(competition=competition).count()
        if not stale:
            return
        # The offer is the list's own Rescore action for this competition (a POST with
        # the CSRF token), so any confirmation step of that action applies here too.
        self.message_user(
            request,
            format_html(
                "{}: {} submission(s) were scored on an earlier solution; their scores are "
                "stale and the leaderboard mixes two solutions until you rescore. "
                '<form method="post" action="{}" class="rescore-offer" style="display:inline">'
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
                '<input type="hidden" name="action" value="rescore">'
                '<input type="hidden" name="_selected_action" value="{}">'
                '<button type="submit" class="button">Rescore {}</button></form>',
                competition,
                stale,
                reverse("admin:competitions_competition_changelist"),
                get_token(request),
                competition.pk,
                competition.slug,
            ),
            messages.WARNING,
        )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _StoreFailed as exc:
            self.message_user(request, f"Nothing was saved: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Competition | None = None,
    ) -> Any:
        # The data check's refusals go at the top, where the organizer looks after saving;
        # the file rows at the bottom of the long form point here.
        for inline in context.get("inline_admin_formsets", []):
            for problem in getattr(inline.formset, "data_problems", []):
                self.message_user(request, f"Not saved: {problem}", messages.ERROR)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        if request.method == "GET":
            with_solution = Competition.objects.filter(
                files__kind=CompetitionFile.Kind.SOLUTION
            ).distinct()
            for competition in with_solution:
                self._stale_notice(request, competition)
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        if request.method == "GET":
            competition = self.get_object(request, object_id)
            if competition is not None:
                self._stale_notice(request, competition)
        return super().change_view(request, object_id, form_url, extra_context)

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
        stored = []
        for obj in instances:
            upload = obj.file.file if obj.file and not obj.file._committed else None
            if upload is None:
                obj.save()
                continue
            try:
                stored.append(
                    competition_file_store(
                        competition=form.instance,
                        kind=obj.kind,
                        name=obj.name or upload.name,
                        content=upload,
                    )
                )
            except ApplicationError as exc:
                # Nothing half-saved: the files stored so far in this request go, and the
                # exception rolls the whole change back (see changeform_view).
                for record in stored:
                    record.file.delete(save=False)
                raise _StoreFailed(exc.message) from exc
        report = getattr(formset, "data_report", None)
        if report is not None and report.replaced_solution:
            self.message_user(
                request,
                f"{form.instance}: solution replaced; {report.moved} row(s) moved between the "
                f"public and the private part (only a Usage column in the new file moves "
                f"rows): {report.public} public, {report.private} private, {report.ignored} "
                "ignored. The page you land on says which scores are now stale.",
            )


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


@admin.register(RuntimeImage)
class RuntimeImageAdmin(admin.ModelAdmin):
    """Images code submissions run on; add one by its tag on the engine (it must be built
    there), then allow it on a competition (Submissions section)."""

    list_display = ("name", "description", "image_id", "package_count", "archive", "refreshed_at")
    readonly_fields = ("image_id", "archive_size", "refreshed_at", "package_count")
    actions = ["refresh"]

    @admin.display(description="packages")
    def package_count(self, obj: RuntimeImage) -> int:
        return len(obj.packages or [])

    @admin.display(description="archive")
    def archive(self, obj: RuntimeImage) -> str:
        return format_size(obj.archive_size) if obj.archive_size else "-"

    @admin.action(description="Read packages and save the docker archive (in the background)")
    def refresh(self, request: HttpRequest, queryset: QuerySet[RuntimeImage]) -> None:
        evaluation_tasks.refresh_runtime_images.delay()
        self.message_user(
            request,
            "Queued: each runtime image built on this host gets its package list and its "
            "docker save archive, where its image id is new.",
        )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "competition", "created_at")
    list_filter = ("competition",)
    search_fields = ("name", "memberships__user__username")
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A team never moves to another competition: its members' records say where.
        return ("competition",) if obj is not None else ()

    # Deletions (the page's and "delete selected") go through the service, which keeps
    # the boards the teams leave up to date.
    def delete_model(self, request: HttpRequest, obj: Team) -> None:
        teams_delete(actor=request.user, teams=Team.objects.filter(pk=obj.pk))  # type: ignore[arg-type]  # the admin's user is signed in

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        teams_delete(actor=request.user, teams=queryset)  # type: ignore[arg-type]  # the admin's user is signed in


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
        "requeue": ("Run failed submissions again", "Yes, run them again", requeue_lines)
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

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if request.GET.get("queue"):
            # The queue page says whether anyone consumes the queue at all.
            health = workers.queue_health()
            level = messages.INFO if workers.live_workers(queue="scoring") else messages.WARNING
            self.message_user(request, health, level)
            organizer_queues = compute_queues_for_user(user=request.user).select_related("owner")
            for line in workers.compute_host_lines(organizer_queues=list(organizer_queues)):
                self.message_user(request, line, messages.INFO)
        return super().changelist_view(request, extra_context)

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        # Keep the queue filter's order (oldest first) instead of the default newest first.
        if request.GET.get("queue"):
            return ()
        return ("-created_at",)

    # Deletions (the page's and "delete selected") go through the service, which refreshes
    # the teams' standings in the same transaction.
    def delete_model(self, request: HttpRequest, obj: Submission) -> None:
        submissions_delete(actor=request.user, submissions=Submission.objects.filter(pk=obj.pk))  # type: ignore[arg-type]  # the admin's user is signed in

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        submissions_delete(actor=request.user, submissions=queryset)  # type: ignore[arg-type]  # the admin's user is signed in

    @admin.action(description="Run again (queue the selected failed submissions)…")
    def requeue(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Submission]) -> Any:
        page = self._confirmation(request, queryset, "requeue", from_changelist=True)
        if page is not None:
            return page
        try:
            count = submission_requeue(actor=request.user, submissions=queryset)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(request, f"Queued {count} submission(s) again.")
        gone = queryset.filter(status=Submission.Status.FAILED, image_deleted_at__isnull=False)
        if gone.exists():
            self.message_user(
                request,
                f"{gone.count()} failed submission(s) cannot run again: their image archives "
                "were deleted after the run (retention policy, PODIUM_IMAGE_RETENTION_DAYS).",
                messages.WARNING,
            )
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
