"""Organizer compute queues in the admin: an organizer attaches its own compute hosts.

The superuser sees every queue; a staff organizer sees and manages only its own, and may
give a queue only competitions it organizes (competitions.selectors). A queue's secret is
shown once, on the page that answers its creation or the "Issue a new secret" action.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from competitions.models import Competition, ComputeQueue
from competitions.selectors import competitions_organized_by, compute_queues_for_user
from competitions.services.compute_queues import (
    compute_queue_assign,
    compute_queue_create,
    compute_queue_issue_secret,
    compute_queue_revoke,
)
from podium.http import AuthenticatedHttpRequest

_SECRETS = "_podium_compute_secrets"


class ComputeQueueForm(forms.ModelForm):
    competitions = forms.ModelMultipleChoiceField(
        queryset=Competition.objects.none(),
        required=False,
        help_text="Their runs go only to this queue's hosts (runs queued from now on).",
    )

    class Meta:
        model = ComputeQueue
        fields = ("name",)

    def clean_competitions(self) -> list[Competition]:
        chosen = list(self.cleaned_data.get("competitions") or [])
        taken = [
            str(c)
            for c in chosen
            if c.compute_queue_id is not None and c.compute_queue_id != self.instance.pk
        ]
        if taken:
            raise forms.ValidationError(
                f"Served by another compute queue: {', '.join(taken)}. Take them off it first."
            )
        return chosen


@admin.register(ComputeQueue)
class ComputeQueueAdmin(admin.ModelAdmin):
    form = ComputeQueueForm
    list_display = ("name", "broker_queue", "owner", "served", "secret", "last_seen_at")
    actions = ["issue_secret", "revoke"]

    def _warn_when_local(self, request: HttpRequest) -> None:
        if request.method == "GET" and not settings.PODIUM_COMPUTE_REMOTE:
            self.message_user(
                request,
                "This platform runs every submission on its own workers "
                "(PODIUM_COMPUTE_REMOTE is off): compute queues and their hosts take effect "
                "only with PODIUM_COMPUTE_REMOTE=1 (README, 'Organizer compute queues').",
                messages.WARNING,
            )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        self._warn_when_local(request)
        return super().changelist_view(request, extra_context)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> Any:
        self._warn_when_local(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ComputeQueue]:
        return (
            compute_queues_for_user(user=request.user)
            .select_related("owner")
            .prefetch_related("competitions")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The name is the broker queue its hosts are configured with: fixed once created.
        state = ("owner", "broker_queue", "secret", "created_at", "last_seen_at")
        return ("name", *state) if obj is not None else ()

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form: Any = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["competitions"].queryset = competitions_organized_by(user=request.user)
        if obj is not None:
            form.base_fields["competitions"].initial = list(obj.competitions.all())
        return form

    @admin.display(description="competitions")
    def served(self, obj: ComputeQueue) -> str:
        return ", ".join(str(c) for c in obj.competitions.all()) or "-"

    @admin.display(description="secret")
    def secret(self, obj: ComputeQueue) -> str:
        if obj.revoked_at:
            return f"revoked {obj.revoked_at:%Y-%m-%d %H:%M} UTC"
        return f"{obj.token_prefix}… (active)"

    def save_model(self, request: HttpRequest, obj: ComputeQueue, form: Any, change: bool) -> None:
        user: Any = request.user
        chosen = form.cleaned_data.get("competitions") or []
        if change:
            compute_queue_assign(queue=obj, actor=user, competitions=chosen)
            return
        queue, secret = compute_queue_create(owner=user, name=obj.name, competitions=chosen)
        obj.pk, obj.owner, obj.token_prefix = queue.pk, queue.owner, queue.token_prefix
        obj._state.adding = False
        setattr(request, _SECRETS, [(queue, secret)])

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Competitions are assigned by the service in save_model; nothing else is related.
        return None

    def response_add(self, request: HttpRequest, obj: ComputeQueue, post_url: Any = None) -> Any:
        return self._secrets_page(request, getattr(request, _SECRETS, []))

    def _secrets_page(
        self, request: HttpRequest, issued: list[tuple[ComputeQueue, str]]
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/podium_compute_secret.html",
            {
                **self.admin_site.each_context(request),
                "title": "Compute host secret",
                "issued": issued,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Issue a new secret (the old one stops working; shown once)")
    def issue_secret(
        self, request: AuthenticatedHttpRequest, queryset: QuerySet[ComputeQueue]
    ) -> HttpResponse:
        issued = [(q, compute_queue_issue_secret(queue=q)) for q in queryset]
        return self._secrets_page(request, issued)

    @admin.action(description="Revoke (its hosts are refused at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ComputeQueue]) -> None:
        for queue in queryset:
            compute_queue_revoke(queue=queue)
        self.message_user(
            request,
            f"Revoked {queryset.count()} queue(s): their hosts are refused from now on; their "
            "competitions' runs wait until a new secret is issued or they are taken off.",
            messages.WARNING,
        )
