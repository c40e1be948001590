"""Server-rendered pages. Each view parses input, calls one service or selector, renders.

A competition's page is a set of tabs, each its own URL (overview, data, rules,
leaderboard, submit, my submissions, team) so that every tab works without JavaScript
and can be linked to. The only scripts are static/upload.js (resumable chunked upload
with a progress bar) and static/status.js (polls status.json for live run status).
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from competitions import leaderboards, run_reports, selectors
from competitions.debug_runs import debug_runs_available
from competitions.evaluation import workers
from competitions.evaluation.metric import metric_lookup, metric_score_range, metric_title
from competitions.forms import (
    AccountSettingsForm,
    DescribeForm,
    InviteForm,
    JoinForm,
    MergeForm,
    RespondForm,
    SelectForm,
    SignUpForm,
    SubmissionForm,
    TeamRenameForm,
)
from competitions.models import Competition, Submission, Team
from competitions.serializers import SubmissionDetailSerializer
from competitions.services.accounts import (
    account_email_record,
    account_email_verify,
    account_from_uid,
    account_settings_update,
    account_signup_attempt_notify,
    account_token_rotate,
    account_username_record,
    account_verification_send,
)
from competitions.services.notifications import notifications_mark_read, run_summary
from competitions.services.runtime_images import competition_runtime_images
from competitions.services.submissions import (
    submission_cancel,
    submission_describe,
    submission_quota,
    submission_select,
)
from competitions.services.submit import submission_submit
from competitions.services.teams import (
    competition_join,
    team_invitation_cancel,
    team_invitation_respond,
    team_invite,
    team_merge_request,
    team_merge_respond,
    team_rename,
)
from competitions.templatetags import charts
from podium import numbers, throttling
from podium.clients import client_address
from podium.errors import ApplicationError
from podium.http import AuthenticatedHttpRequest
from podium.units import format_duration, format_size
from uploads.services import upload_request_length_check

# Accounts


def signup(request: HttpRequest) -> HttpResponse:
    """Make an account (username, e-mail, password). Attempts (valid or not) are limited
    per client address (PODIUM_SIGNUP_RATE); over the limit the form comes back as typed,
    with a 429. With PODIUM_EMAIL_VERIFICATION on, the account stays inactive until the
    link mailed to it is opened, and the answer is the same page whether the address was
    new or already in use (its owner is told by e-mail)."""
    form = SignUpForm(request.POST or None)
    if request.method == "POST":
        outcome = throttling.hit(
            scope="signup",
            ident=client_address(request),
            rate=(rate := throttling.configured_rate("PODIUM_SIGNUP_RATE")),
        )
        if not outcome.allowed:
            refusal = (
                f"Too many sign-ups from your address (at most {rate.limit} per "
                f"{format_duration(rate.window_seconds)}). Try again "
                f"{throttling.retry_text(outcome)}, or ask an organizer for an account."
            )
            typed = {name: request.POST.get(name) for name in ("username", "email")}
            context = {"form": SignUpForm(initial=typed)}
            return render(
                request, "registration/signup.html", {**context, "refusal": refusal}, status=429
            )
    if request.method == "POST" and form.is_valid():
        verify = settings.PODIUM_EMAIL_VERIFICATION
        base_url = request.build_absolute_uri("/").rstrip("/")
        check_email = {"email": form.cleaned_data["email"]}
        if verify and form.email_taken:
            account_signup_attempt_notify(email=form.cleaned_data["email"], base_url=base_url)
            return render(request, "registration/signup_check_email.html", check_email)
        try:
            with transaction.atomic():
                user = form.save(commit=False)
                user.is_active = not verify
                user.save()
                account_username_record(user=user)
                account_email_record(user=user)
        except ApplicationError as exc:
            if exc.extra.get("code") != "email_unavailable":
                form.add_error("username", exc.message)
            elif verify:  # an account with this address was made meanwhile
                account_signup_attempt_notify(email=form.cleaned_data["email"], base_url=base_url)
                return render(request, "registration/signup_check_email.html", check_email)
            else:
                form.add_error("email", exc.message)
            return render(request, "registration/signup.html", {"form": form})
        if verify:
            account_verification_send(user=user, base_url=base_url)
            return render(request, "registration/signup_check_email.html", check_email)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}.")
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = "competitions:list"
        return redirect(target)
    return render(request, "registration/signup.html", {"form": form})


class LogoutView(auth_views.LogoutView):
    """Django's logout, which logs out on POST only (a link or a prefetch must not log
    anyone out). A GET, from a typed or bookmarked /accounts/logout/, shows a page with the
    button instead of Django's bare 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return render(request, "registration/logout_confirm.html")


class LoginView(auth_views.LoginView):
    """Django's login, with a ceiling on failed logins per client address.

    django-axes locks an account after PODIUM_LOGIN_FAILURE_LIMIT failures (from any
    address); this adds a much higher ceiling per address over all accounts
    (PODIUM_LOGIN_ADDRESS_FAILURES), so guessing many accounts from one address stops too
    without one guesser locking out everyone behind a shared address. The check comes
    before the password is tried; requests already in flight when the ceiling is reached
    still get their answer (at most one extra guess per concurrent request).
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        rate = throttling.configured_rate("PODIUM_LOGIN_ADDRESS_FAILURES")
        if throttling.peek(scope="login-failure", ident=client_address(request)) >= rate.limit:
            refusal = (
                f"Too many failed logins from your address (at most {rate.limit} per "
                f"{format_duration(rate.window_seconds)}, all accounts together). Try "
                "again later, or from another network."
            )
            form = self.form_class(request, initial={"username": request.POST.get("username", "")})
            context = self.get_context_data(form=form, refusal=refusal)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        rate = throttling.configured_rate("PODIUM_LOGIN_ADDRESS_FAILURES")
        throttling.hit(scope="login-failure", ident=client_address(self.request), rate=rate)
        return super().form_invalid(form)


def verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Open the link of PODIUM_EMAIL_VERIFICATION: activate the account and log in."""
    user = account_from_uid(uidb64=uidb64)
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "registration/verify_invalid.html", status=400)
    account_email_verify(user=user)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Your e-mail address is confirmed. Welcome, {user.get_username()}.")
    return redirect("competitions:list")


@login_required
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The API token (for the CLI and scripts), the invitations waiting for the user, the
    e-mail notification setting and the links to change the password."""
    if request.method == "POST" and "notify" in request.POST:
        settings_form = AccountSettingsForm(request.POST)
        if settings_form.is_valid():
            on = settings_form.cleaned_data["notify_by_email"]
            account_settings_update(user=request.user, notify_by_email=on)
            messages.success(
                request,
                "You will get an e-mail when a run finishes or you are invited."
                if on
                else "You will get no notification e-mails.",
            )
        return redirect("competitions:account")
    if request.method == "POST":
        had_one = selectors.token_for_user(user=request.user) is not None
        account_token_rotate(user=request.user)
        messages.success(
            request,
            "A new API token was made; the old one no longer works."
            if had_one
            else "Your API token was made: use it with the podium client or the API.",
        )
        return redirect("competitions:account")
    return render(
        request,
        "account.html",
        {
            "token": selectors.token_for_user(user=request.user),
            "invitations": selectors.invitations_for_user(user=request.user),
            "respond_form": RespondForm(),
            "settings_form": AccountSettingsForm(
                initial={"notify_by_email": selectors.notify_by_email_for_user(user=request.user)}
            ),
        },
    )


@login_required
def notifications(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's latest notifications; opening the page marks them read."""
    items = list(selectors.notifications_for_user(user=request.user))
    unread = {item.pk for item in items if item.read_at is None}
    notifications_mark_read(user=request.user)
    rows = []
    for item in items:
        if item.submission is not None:
            text = run_summary(user=request.user, submission=item.submission)
            url = item.submission.get_absolute_url()
        elif item.invitation is not None:
            inv = item.invitation
            text = (
                f"{inv.invited_by} invited you to the team {inv.team.name} in "
                f"{inv.team.competition.title} ({inv.get_status_display().lower()})."
            )
            url = reverse("competitions:account")
        else:
            continue
        rows.append({"text": text, "url": url, "at": item.created_at, "new": item.pk in unread})
    return render(request, "notifications.html", {"rows": rows})


# Browsing


def competition_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    groups: dict[str, list[Competition]] = {"active": [], "upcoming": [], "past": []}
    for competition in selectors.competition_list(user=request.user):
        if competition.end <= now:
            groups["past"].append(competition)
        elif competition.start > now:
            groups["upcoming"].append(competition)
        else:
            groups["active"].append(competition)
    groups["active"].sort(key=lambda c: c.end)
    groups["upcoming"].sort(key=lambda c: c.start)
    return render(request, "competitions/list.html", {"groups": groups})


def _tab_context(request: HttpRequest, competition: Competition, tab: str) -> dict[str, Any]:
    return {
        "competition": competition,
        "team": selectors.team_for_user(user=request.user, competition=competition),
        "tab": tab,
        "direction": leaderboards.metric_direction(competition),
    }


def _leaderboard_context(
    request: HttpRequest,
    competition: Competition,
    team: Team | None,
    kind: str | None = None,
    page_size: int = leaderboards.PAGE_SIZE,
) -> dict[str, Any]:
    """The board's page for the template; ``team`` is the reader's (None: none)."""
    kind = kind or request.GET.get("kind", leaderboards.LeaderboardKind.PUBLIC)
    page = numbers.page_number(request.GET.get("page"))
    board = None
    try:
        board = leaderboards.leaderboard_page_for_user(
            user=request.user,
            competition=competition,
            kind=kind,
            page=page,
            page_size=page_size,
            team=team,
        )
        if page > 1 and not board.entries and board.total:  # past the last page: the last
            page = -(-board.total // page_size)
            board = leaderboards.leaderboard_page_for_user(
                user=request.user,
                competition=competition,
                kind=kind,
                page=page,
                page_size=page_size,
                team=team,
            )
        entries, error = board.entries, ""
    except ApplicationError as exc:
        entries, error = [], exc.message
    own = board.own if board is not None else None
    pages = -(-board.total // page_size) if board is not None else 0
    return {
        "kind": kind,
        "entries": entries,
        "own_entry": own if own is not None and own not in entries else None,
        "page": page,
        "pages": pages,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < pages else None,
        "has_ci": any(getattr(e, "ci_low", None) is not None for e in entries),
        "metric_title": metric_title(competition.metric),
        "additional_columns": leaderboards.additional_columns(competition),
        "leaderboard_error": error,
        "private_visible": selectors.private_scores_visible(
            user=request.user, competition=competition
        ),
    }


def competition_detail(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    tabs = _tab_context(request, competition, "overview")
    context = {
        **tabs,
        "files": selectors.competition_files_for_user(user=request.user, competition=competition),
        "can_download": selectors.data_download_allowed(user=request.user, competition=competition),
        "join_form": JoinForm(),
        **_leaderboard_context(
            request, competition, tabs["team"], leaderboards.LeaderboardKind.PUBLIC, 10
        ),
    }
    context["next_page"] = context["previous_page"] = None
    return render(request, "competitions/detail.html", context)


def competition_data(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    context = {
        **_tab_context(request, competition, "data"),
        "files": selectors.competition_files_for_user(user=request.user, competition=competition),
        "can_download": selectors.data_download_allowed(user=request.user, competition=competition),
        "runtime_images": competition_runtime_images(competition=competition),
    }
    return render(request, "competitions/data.html", context)


def competition_rules(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    context = {**_tab_context(request, competition, "rules"), "join_form": JoinForm()}
    return render(request, "competitions/rules.html", context)


def leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    tabs = _tab_context(request, competition, "leaderboard")
    context = {**tabs, **_leaderboard_context(request, competition, tabs["team"])}
    if context["kind"] == leaderboards.LeaderboardKind.PRIVATE and not context["leaderboard_error"]:
        # The page's teams (the whole board is the API's shake-up and the CSV): a private
        # page costs its own rows, whatever the size of the board.
        # Shown once revealed (or after the end), as the API's shake-up.
        shown = competition.private_leaderboard_visible
        rows = leaderboards.shakeup_rows(context["entries"]) if shown else []
        context["shakeup_svg"] = charts.shakeup_svg(rows)
    return render(request, "competitions/leaderboard.html", context)


def leaderboard_csv(request: HttpRequest, slug: str) -> HttpResponseBase:
    competition = selectors.competition_get(slug=slug, user=request.user)
    kind = request.GET.get("kind", leaderboards.LeaderboardKind.PUBLIC)
    try:
        lines = leaderboards.leaderboard_csv_for_user(
            user=request.user, competition=competition, kind=kind
        )
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
    return leaderboards.leaderboard_csv_response(lines, competition, kind)


@login_required
@require_POST
def join(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    form = JoinForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Accept the rules to join.")
        return redirect(competition)
    try:
        team = competition_join(user=request.user, competition=competition)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(competition)
    messages.success(request, f"You joined {competition.title} as team {team.name}.")
    return redirect("competitions:submit", slug=slug)


def download(request: HttpRequest, slug: str, pk: int) -> FileResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    record = selectors.competition_file_get_for_user(
        user=request.user, competition=competition, pk=pk
    )
    return FileResponse(
        record.file.open("rb"), as_attachment=True, filename=record.safe_name.replace("/", "_")
    )


# Submitting


@csrf_exempt  # not exempt: protected below, once the declared length has been judged
def submit(request: HttpRequest, slug: str) -> HttpResponse:
    """The Submit page. A form post with the image in its body is refused by its declared
    length before the body is read (the CSRF check would read it, so it comes after)."""
    if (
        request.method == "POST"
        and (request.content_type or "").startswith("multipart/")
        and request.user.is_authenticated
    ):
        try:
            upload_request_length_check(
                competition=selectors.competition_get(slug=slug, user=request.user),
                content_length=request.META.get("CONTENT_LENGTH"),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("competitions:submit", slug=slug)
    # _submit is login_required: an anonymous visitor is sent to sign in there.
    return _submit(cast(AuthenticatedHttpRequest, request), slug)


@csrf_protect
@login_required
def _submit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    team = selectors.team_for_user(user=request.user, competition=competition)
    if team is None:
        messages.info(request, "Join the competition (accept its rules) to submit.")
        return redirect(competition)
    form = SubmissionForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            submission = submission_submit(
                user=request.user,
                competition=competition,
                image=None if data["upload"] else data["image"],
                upload_id=str(data["upload"]) if data["upload"] else None,
                description=data["description"],
                debug=data["debug"],
                runtime_image=data["runtime_image"] or None,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            # Says what stays true: the row below shows the run's status as it changes.
            messages.success(
                request, f"Submission {submission.pk} was received; its status below is live."
            )
            return redirect("competitions:my_submissions", slug=slug)
    api_base = request.build_absolute_uri("/")
    return render(
        request,
        "competitions/submit.html",
        {
            **_tab_context(request, competition, "submit"),
            "form": form,
            "quota": submission_quota(team=team),
            "debug_unavailable": debug_runs_available(competition=competition),
            "api_base": api_base.rstrip("/"),
            "uploads_url": reverse("api-uploads"),
            "runtime_images": competition_runtime_images(competition=competition),
            "chunk_size": settings.UPLOAD_CHUNK_SIZE,
        },
    )


def _efficiency_points(submissions: list[Submission], attr: str) -> list[tuple[float, float, str]]:
    return [
        (float(getattr(s, attr)), s.public_score, f"#{s.pk}")
        for s in submissions
        if getattr(s, attr) is not None and s.public_score is not None
    ]


@login_required
def my_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    submissions = list(selectors.submissions_for_user(user=request.user, competition=competition))
    scored = [
        s
        for s in submissions
        if s.status == Submission.Status.SCORED and s.public_score is not None and not s.is_debug
    ]
    higher = metric_lookup(competition.metric).greater_is_better
    bounds = metric_score_range(competition.metric)
    timeline = sorted(
        (s.created_at, s.public_score, f"#{s.pk}") for s in scored if s.public_score is not None
    )
    context = {
        **_tab_context(request, competition, "submissions"),
        "submissions": submissions,
        "private_visible": selectors.private_scores_visible(
            user=request.user, competition=competition
        ),
        "select_form": SelectForm(),
        "score_svg": charts.score_over_time_svg(
            timeline, higher_is_better=higher, score_range=bounds
        ),
        "runtime_svg": charts.frontier_svg(
            _efficiency_points(scored, "duration_seconds"),
            higher_is_better=higher,
            x_label="run time",
            x_format=format_duration,
            score_range=bounds,
        ),
        "memory_svg": charts.frontier_svg(
            _efficiency_points(scored, "peak_memory_bytes"),
            higher_is_better=higher,
            x_label="peak memory",
            x_format=format_size,
            score_range=bounds,
        ),
    }
    return render(request, "competitions/my_submissions.html", context)


def _status(request: HttpRequest, submission: Submission) -> dict[str, Any]:
    """What the status poller shows: the API's representation of the submission
    (SubmissionDetailSerializer, through competitions.run_reports) and, for the page, the
    same facts as text: state, queue note, time used against the limit, result."""
    now = timezone.now()
    competition = submission.competition
    elapsed = None
    if submission.started_at:
        # Whole seconds: the submission comes from a selector, which already cut its
        # times to what the user may see (competitions.run_reports).
        elapsed = float(
            round(((submission.finished_at or now) - submission.started_at).total_seconds())
        )
    position = selectors.submission_queue_position(submission=submission)
    body = dict(SubmissionDetailSerializer(submission, context={"queue_position": position}).data)
    return {
        **body,
        "status_display": submission.status_label,
        "finished": submission.is_finished,
        "queue_note": workers.submission_wait_note(submission=submission),
        "elapsed_seconds": elapsed,
        "elapsed_display": format_duration(elapsed) if elapsed is not None else "",
        "time_limit_seconds": competition.time_limit_seconds,
        "time_limit_display": format_duration(competition.time_limit_seconds),
        "public_score_display": charts.fmt_score(submission.public_score),
        "failure_display": submission.get_failure_kind_display() if submission.failure_kind else "",
        "duration_display": format_duration(submission.duration_seconds),
    }


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = selectors.submission_get_for_user(user=request.user, pk=pk)
    competition = submission.competition
    return render(
        request,
        "competitions/submission.html",
        {
            **_tab_context(request, competition, "submissions"),
            "submission": submission,
            "rank": leaderboards.submission_public_rank(
                competition=competition, submission=submission
            ),
            "status": _status(request, submission),
            "log": selectors.submission_log_for_user(user=request.user, submission=submission),
            "private_visible": selectors.private_scores_visible(
                user=request.user, competition=competition
            ),
            "select_form": SelectForm(),
            "additional_scores": run_reports.additional_scores_of_report(
                competition=competition,
                report=submission.run_report,  # type: ignore[attr-defined]
            ),
            "artifact_kept": submission.image_deleted_at is None and bool(submission.image),
            "describe_form": DescribeForm(initial={"description": submission.description}),
        },
    )


@login_required
@require_POST
def submission_describe_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    submission = selectors.submission_get_for_user(user=request.user, pk=pk)
    form = DescribeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A description has at most 500 characters.")
        return redirect(submission)
    try:
        submission_describe(
            user=request.user, submission=submission, description=form.cleaned_data["description"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The description of submission {submission.pk} is saved.")
    return redirect(submission)


@login_required
def submission_status(request: HttpRequest, pk: int) -> JsonResponse:
    submission = selectors.submission_get_for_user(user=request.user, pk=pk)
    response = JsonResponse(_status(request, submission))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def submission_cancel_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    submission = selectors.submission_get_for_user(user=request.user, pk=pk)
    try:
        submission_cancel(user=request.user, submission=submission)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Submission {submission.pk} is cancelled; it does not count.")
    return redirect(submission)


@login_required
@require_POST
def submission_select_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    submission = selectors.submission_get_for_user(user=request.user, pk=pk)
    form = SelectForm(request.POST)
    selected = form.is_valid() and form.cleaned_data["selected"]
    try:
        submission_select(user=request.user, submission=submission, selected=selected)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        verb = "is now a final submission" if selected else "is no longer a final submission"
        messages.success(request, f"Submission {submission.pk} {verb}.")
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(submission)


# Teams


@login_required
def team_page(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug, user=request.user)
    context = _tab_context(request, competition, "team")
    team = context["team"]
    if team is None:
        messages.info(request, "Join the competition (accept its rules) to have a team.")
        return redirect("competitions:rules", slug=slug)
    merge_requests = list(selectors.merge_requests_for_team(team=team))
    context.update(
        {
            "members": selectors.team_members(team=team),
            "sent_invitations": selectors.invitations_for_team(team=team),
            "my_invitations": selectors.invitations_for_user(
                user=request.user, competition=competition
            ),
            "incoming_merges": [m for m in merge_requests if m.target_id == team.pk],
            "outgoing_merges": [m for m in merge_requests if m.source_id == team.pk],
            "rename_form": TeamRenameForm(initial={"name": team.name}),
            "invite_form": InviteForm(),
            "merge_form": MergeForm(),
            "respond_form": RespondForm(),
        }
    )
    return render(request, "competitions/team.html", context)


def _team_action(request: HttpRequest, slug: str, action) -> HttpResponse:
    """Run one team service with the posted form; show its message either way."""
    competition = selectors.competition_get(slug=slug, user=request.user)
    team = selectors.team_for_user(user=request.user, competition=competition)
    try:
        if team is None:
            raise ApplicationError("Join the competition first.")
        done = action(competition, team)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("competitions:team", slug=slug)


def _valid(form) -> dict[str, Any]:
    if not form.is_valid():
        raise ApplicationError(" ".join(str(e) for errors in form.errors.values() for e in errors))
    return form.cleaned_data


@login_required
@require_POST
def team_rename_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    def action(competition, team) -> str:
        name = _valid(TeamRenameForm(request.POST))["name"]
        team = team_rename(user=request.user, team=team, name=name)
        return f"Your team is now called {team.name}."

    return _team_action(request, slug, action)


@login_required
@require_POST
def team_invite_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    def action(competition, team) -> str:
        username = _valid(InviteForm(request.POST))["username"]
        team_invite(user=request.user, team=team, invitee_username=username)
        return f"{username} is invited; they accept on their team or account page."

    return _team_action(request, slug, action)


@login_required
@require_POST
def team_invitation_cancel_view(
    request: AuthenticatedHttpRequest, slug: str, pk: int
) -> HttpResponse:
    def action(competition, team) -> str:
        invitation = selectors.invitation_get_for_team(team=team, pk=pk)
        team_invitation_cancel(user=request.user, invitation=invitation)
        return f"The invitation of {invitation.invitee} is cancelled."

    return _team_action(request, slug, action)


@login_required
@require_POST
def team_merge_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    def action(competition, team) -> str:
        target = _valid(MergeForm(request.POST))["target"]
        team_merge_request(user=request.user, team=team, target_team_name=target)
        return f"Merge request sent to {target}; its members accept or decline it."

    return _team_action(request, slug, action)


@login_required
@require_POST
def team_merge_respond_view(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    def action(competition, team) -> str:
        accept = _valid(RespondForm(request.POST))["accept"]
        merge = selectors.merge_request_get_for_team(team=team, pk=pk, received_only=True)
        team_merge_respond(user=request.user, merge_request=merge, accept=accept)
        return f"{merge.source} merged into your team." if accept else "Merge declined."

    return _team_action(request, slug, action)


@login_required
@require_POST
def invitation_respond(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    invitation = selectors.invitation_get_for_user(user=request.user, pk=pk)
    form = RespondForm(request.POST)
    try:
        accept = _valid(form)["accept"]
        team_invitation_respond(user=request.user, invitation=invitation, accept=accept)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        accept = False
    else:
        messages.success(
            request, f"You joined team {invitation.team}." if accept else "Invitation declined."
        )
    if accept:
        return redirect("competitions:team", slug=invitation.team.competition.slug)
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("competitions:account")
