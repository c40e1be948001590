"""Confirmation pages of the admin's consequential actions, and what each page says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from competitions.models import Competition, Submission

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


def publish_lines(queryset: QuerySet[Competition]) -> list[str]:
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


def reveal_lines(queryset: QuerySet[Competition]) -> list[str]:
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


def hide_lines(queryset: QuerySet[Competition]) -> list[str]:
    return [
        f"{c.title} has ended: its private leaderboard stays public anyway."
        if c.has_ended
        else f"{c.title}: private scores are hidden from participants again until the end."
        for c in queryset
    ]


def rescore_lines(queryset: QuerySet[Competition]) -> list[str]:
    lines = []
    for c in queryset:
        count = c.submissions.count()
        where = " (in the background)" if count > RESCORE_INLINE_LIMIT else ""
        lines.append(
            f"{c.title}: its {count} submission(s) are scored again{where} from their kept "
            "predictions against the current solution; scores and ranks may change."
        )
    return lines


def requeue_lines(queryset: QuerySet[Submission]) -> list[str]:
    return [_requeue_line(s) for s in queryset.select_related("team", "competition")]


def _requeue_line(s: Submission) -> str:
    if s.status != Submission.Status.FAILED:
        return (
            f"Submission {s.pk} is {s.get_status_display().lower()}: not requeued "
            "(only failed submissions are)."
        )
    if s.image_deleted_at is not None:
        return (
            f"Submission {s.pk} of team {s.team} failed ({s.get_failure_kind_display()}) but "
            "cannot run again: its image archive was deleted after the run (retention "
            "policy, PODIUM_IMAGE_RETENTION_DAYS). The team can submit it again."
        )
    return (
        f"Submission {s.pk} of team {s.team} in {s.competition} failed "
        f"({s.get_failure_kind_display()}): it runs again."
    )
