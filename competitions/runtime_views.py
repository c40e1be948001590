"""Pages and downloads of issue 16: runtime images participants can get, and re-runs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from competitions import selectors
from competitions.evaluation import tasks as evaluation_tasks
from competitions.ranges import ranged_file_response
from competitions.services.runtime_images import runtime_image_archive_path
from competitions.services.submit import submission_rerun
from podium import throttling
from podium.errors import ApplicationError
from podium.http import AuthenticatedHttpRequest


def runtime_image_download(request: HttpRequest, slug: str, pk: int) -> HttpResponseBase:
    """The ``docker save`` archive of a runtime image the competition allows: streamed,
    resumable (Range), made once per image id; 503 while it is being made.

    Only for those who may download the competition's data (members who accepted its
    rules, organizers): an archive is hundreds of MB to send, and one not made yet costs
    the scoring worker a `docker save`. Anonymous: redirect to sign in; others: 403."""
    competition = selectors.competition_get(slug=slug, user=request.user)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not selectors.data_download_allowed(user=request.user, competition=competition):
        return HttpResponse(
            f"Join {competition.title} (accept its rules) to download its runtime images.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    runtime_image = competition.runtime_images.filter(pk=pk).first()
    if runtime_image is None:
        raise Http404("No such runtime image in this competition.")
    path = runtime_image_archive_path(runtime_image=runtime_image)
    if path is None:
        # Asked for once per image every 10 minutes whoever asks, however often (counted
        # atomically across web processes): a flood of downloads queues one refresh, not
        # one per request.
        once = throttling.hit(
            scope="runtime-image-refresh",
            ident=str(runtime_image.pk),
            rate=throttling.Rate(limit=1, window_seconds=600),
        )
        if once.allowed:
            evaluation_tasks.refresh_runtime_images.delay()
        response = HttpResponse(
            f"The archive of {runtime_image.name} is being prepared; try again in a few minutes.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "120"
        return response
    filename = runtime_image.name.replace("/", "_").replace(":", "_") + ".tar"
    return ranged_file_response(
        request,
        path,
        filename=filename,
        etag=runtime_image.image_id,
        content_type="application/x-tar",
    )


@login_required
@require_POST
def submission_rerun_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Run a submission's kept artifact again (``debug`` in the form: as a debug run)."""
    source = selectors.submission_get_for_user(user=request.user, pk=pk)
    debug = request.POST.get("debug") == "1"
    try:
        submission = submission_rerun(user=request.user, source=source, debug=debug)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(source)
    what = "debug run" if debug else "submission"
    messages.success(
        request, f"Submission {source.pk} runs again as {what} {submission.pk}, without upload."
    )
    return redirect(submission)
