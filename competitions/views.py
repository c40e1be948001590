"""Server-rendered pages. Each view parses input, calls one service or selector, renders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from competitions import selectors
from competitions.forms import JoinForm, SignUpForm, SubmissionForm
from competitions.services import competition_join, submission_create, submission_quota
from podium.errors import ApplicationError


def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        messages.success(request, f"Welcome, {user.username}.")
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = "competitions:list"
        return redirect(target)
    return render(request, "registration/signup.html", {"form": form})


def competition_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "competitions/list.html",
        {"competitions": selectors.competition_list()},
    )


def _leaderboard_context(request: HttpRequest, competition) -> dict:
    kind = request.GET.get("kind", selectors.LeaderboardKind.PUBLIC)
    try:
        entries = selectors.leaderboard_for_user(
            user=request.user, competition=competition, kind=kind
        )
        error = ""
    except ApplicationError as exc:
        entries, error = [], exc.message
    return {
        "kind": kind,
        "entries": entries,
        "leaderboard_error": error,
        "private_visible": selectors.private_scores_visible(
            user=request.user, competition=competition
        ),
    }


def competition_detail(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug)
    team = selectors.team_for_user(user=request.user, competition=competition)
    context = {
        "competition": competition,
        "team": team,
        "files": selectors.competition_files_for_user(user=request.user, competition=competition),
        "join_form": JoinForm(),
        **_leaderboard_context(request, competition),
    }
    return render(request, "competitions/detail.html", context)


def leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug)
    context = {"competition": competition, **_leaderboard_context(request, competition)}
    return render(request, "competitions/leaderboard.html", context)


@login_required
@require_POST
def join(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug)
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
    competition = selectors.competition_get(slug=slug)
    record = selectors.competition_file_get_for_user(
        user=request.user, competition=competition, pk=pk
    )
    return FileResponse(
        record.file.open("rb"), as_attachment=True, filename=record.safe_name.replace("/", "_")
    )


@login_required
def submit(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug)
    team = selectors.team_for_user(user=request.user, competition=competition)
    if team is None:
        messages.info(request, "Join the competition (accept its rules) to submit.")
        return redirect(competition)
    form = SubmissionForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            submission = submission_create(
                user=request.user,
                competition=competition,
                image=form.cleaned_data["image"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Submission {submission.pk} is queued.")
            return redirect("competitions:my_submissions", slug=slug)
    return render(
        request,
        "competitions/submit.html",
        {
            "competition": competition,
            "team": team,
            "form": form,
            "quota": submission_quota(team=team),
        },
    )


@login_required
def my_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    competition = selectors.competition_get(slug=slug)
    return render(
        request,
        "competitions/my_submissions.html",
        {
            "competition": competition,
            "team": selectors.team_for_user(user=request.user, competition=competition),
            "submissions": selectors.submissions_for_user(
                user=request.user, competition=competition
            ),
            "private_visible": selectors.private_scores_visible(
                user=request.user, competition=competition
            ),
        },
    )


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = selectors.submission_get_for_user(user=request.user, pk=pk)
    return render(
        request,
        "competitions/submission.html",
        {
            "submission": submission,
            "competition": submission.competition,
            "private_visible": selectors.private_scores_visible(
                user=request.user, competition=submission.competition
            ),
        },
    )
