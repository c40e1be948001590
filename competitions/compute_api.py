"""HTTP endpoints for compute workers (``podium_compute``), under ``/compute/v1/``.

Thin: parse, call competitions.evaluation.compute, answer. Authentication is the per-run
credential (``Authorization: Run TOKEN``): the dispatch token for the claim, the lease
token for everything after it; and the host's credential (``X-Podium-Host-Token``: the
platform-wide PODIUM_COMPUTE_HOST_TOKEN, or an organizer queue's secret), which decides
which competitions' runs the host may touch (competitions.evaluation.compute.host_may_serve).
No session, no CSRF (no cookie is accepted), no user.
Errors answer ``{"detail": "..."}`` with 400, 403, 404, 409, 410 or 413.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from competitions.evaluation import compute


def _token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Run" or not token.strip():
        raise compute.ComputeRefused(403, "send the run's credential as 'Authorization: Run TOKEN'")
    return token.strip()


def _json(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"{}")
    except ValueError:
        raise compute.ComputeRefused(400, "the body must be JSON") from None


def _answers(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except compute.ComputeRefused as exc:
            return JsonResponse({"detail": exc.message}, status=exc.status)

    return csrf_exempt(wrapper)


def _host(request: HttpRequest) -> compute.Host:
    return compute.host_identify(token=request.headers.get("X-Podium-Host-Token", "").strip())


def _lease(request: HttpRequest, submission_id: int) -> compute.Lease:
    return compute.lease_check(
        submission_id=submission_id, token=_token(request), host=_host(request)
    )


@_answers
@require_POST
def claim(request: HttpRequest, submission_id: int) -> HttpResponse:
    body = _json(request)
    worker = body.get("worker", "") if isinstance(body, dict) else ""
    spec = compute.run_claim(
        submission_id=submission_id, token=_token(request), worker=worker, host=_host(request)
    )
    return JsonResponse(spec)


@_answers
@require_POST
def heartbeat(request: HttpRequest, submission_id: int) -> HttpResponse:
    compute.run_heartbeat(lease=_lease(request, submission_id))
    return JsonResponse({"ok": True})


@_answers
@require_GET
def image(request: HttpRequest, submission_id: int) -> HttpResponseBase:
    lease = _lease(request, submission_id)
    return FileResponse(lease.submission.image.open("rb"), as_attachment=True)


@_answers
@require_GET
def manifest(request: HttpRequest, submission_id: int) -> HttpResponse:
    return JsonResponse(compute.run_manifest(lease=_lease(request, submission_id)))


@_answers
@require_GET
def input_file(request: HttpRequest, submission_id: int, name: str) -> HttpResponseBase:
    found = compute.run_input_path(lease=_lease(request, submission_id), name=name)
    return FileResponse(found.open("rb"), as_attachment=True)


@_answers
@require_http_methods(["PUT"])
def predictions(request: HttpRequest, submission_id: int) -> HttpResponse:
    size = compute.run_predictions_store(lease=_lease(request, submission_id), body=request)
    return JsonResponse({"size": size})


@_answers
@require_POST
def result(request: HttpRequest, submission_id: int) -> HttpResponse:
    compute.run_result(lease=_lease(request, submission_id), payload=_json(request))
    return JsonResponse({"ok": True}, status=202)


@_answers
@require_POST
def fault(request: HttpRequest, submission_id: int) -> HttpResponse:
    compute.run_fault(lease=_lease(request, submission_id), payload=_json(request))
    return JsonResponse({"ok": True}, status=202)


@_answers
@require_POST
def host_beat(request: HttpRequest) -> HttpResponse:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Host":
        raise compute.ComputeRefused(403, "send the host token as 'Authorization: Host TOKEN'")
    compute.host_beat(token=token.strip(), payload=_json(request))
    return JsonResponse({"ok": True})


urlpatterns = [
    path("hosts/beat", host_beat),
    path("runs/<int:submission_id>/claim", claim),
    path("runs/<int:submission_id>/heartbeat", heartbeat),
    path("runs/<int:submission_id>/image", image),
    path("runs/<int:submission_id>/inputs/", manifest),
    path("runs/<int:submission_id>/inputs/<path:name>", input_file),
    path("runs/<int:submission_id>/predictions", predictions),
    path("runs/<int:submission_id>/result", result),
    path("runs/<int:submission_id>/fault", fault),
]
