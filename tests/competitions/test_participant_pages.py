"""What a participant reads and does on the submissions pages: the metric's direction
wherever a score is, the rank a score takes, editable descriptions, one-click final
selections in the list, the merger deadline, and messages that stay true."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory

from competitions.models import Submission, TeamMembership

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return response.content.decode()


@pytest.fixture
def member() -> TeamMembership:
    competition = CompetitionFactory(metric="rmse")
    return MembershipFactory(team__competition=competition, team__name="ada's team")


@pytest.fixture
def ada(member: TeamMembership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def _scored(member: TeamMembership, score: float, **fields) -> Submission:
    fields.setdefault("user", member.user)
    return SubmissionFactory(
        team=member.team,
        status=Submission.Status.SCORED,
        public_score=score,
        **fields,
    )


def test_the_metric_direction_is_shown_wherever_a_score_is(ada: Client, member) -> None:
    run = _scored(member, 0.4)
    slug = member.team.competition.slug
    for path in (
        reverse("competitions:detail", args=[slug]),
        reverse("competitions:leaderboard", args=[slug]),
        reverse("competitions:my_submissions", args=[slug]),
        run.get_absolute_url(),
    ):
        text = html(ada.get(path))
        assert "lower is better" in text, path
        assert "higher is better" not in text, path


def test_the_submission_page_gives_the_rank_its_score_takes(ada: Client, member) -> None:
    competition = member.team.competition
    for score in (0.1, 0.3, 0.5):  # rmse: lower is better
        other = MembershipFactory(team__competition=competition)
        _scored(other, score, user=other.user)
    best = _scored(member, 0.2)
    worse = _scored(member, 0.4)

    best_page = html(ada.get(best.get_absolute_url()))
    worse_page = html(ada.get(worse.get_absolute_url()))

    assert "places <strong>#2</strong> of 4 teams" in best_page
    assert "(your team is #2)" in best_page
    assert "places <strong>#3</strong> of 4 teams" in worse_page
    assert "(your team is #2)" in worse_page


def test_a_debug_run_takes_no_rank(ada: Client, member) -> None:
    run = _scored(member, 0.2, is_debug=True)
    assert 'data-field="rank"' not in html(ada.get(run.get_absolute_url()))


def test_a_team_edits_a_description_and_another_team_cannot(ada: Client, member) -> None:
    run = _scored(member, 0.2, description="first try")
    url = reverse("competitions:submission_describe", args=[run.pk])

    page = ada.post(url, {"description": "  SVC, C=10  "}, follow=True)

    run.refresh_from_db()
    assert run.description == "SVC, C=10"
    assert f"The description of submission {run.pk} is saved." in html(page)
    assert ada.post(url, {"description": "x" * 501}, follow=True).status_code == 200
    run.refresh_from_db()
    assert run.description == "SVC, C=10"
    stranger = Client()
    stranger.force_login(MembershipFactory(team__competition=run.competition).user)
    assert stranger.post(url, {"description": "mine now"}).status_code == 404
    run.refresh_from_db()
    assert run.description == "SVC, C=10"


def test_final_selection_is_one_click_in_the_list(ada: Client, member) -> None:
    first, second = _scored(member, 0.2), _scored(member, 0.3)
    listing = reverse("competitions:my_submissions", args=[member.team.competition.slug])
    text = html(ada.get(listing))
    assert text.count("Make final") == 2

    form = re.search(
        rf'action="{reverse("competitions:submission_select", args=[first.pk])}".*?'
        r'name="next" value="([^"]+)".*?name="selected" value="([^"]*)"',
        text,
        re.S,
    )
    assert form is not None
    after = ada.post(
        reverse("competitions:submission_select", args=[first.pk]),
        {"next": form.group(1), "selected": form.group(2)},
        follow=True,
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_selected and not second.is_selected
    assert after.redirect_chain[-1][0].startswith(listing)
    assert html(after).count("Final ✓") == 1 and html(after).count("Make final") == 1


def test_the_merger_deadline_is_shown(ada: Client, member) -> None:
    competition = member.team.competition
    competition.merger_deadline = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)
    competition.save()
    text = html(ada.get(reverse("competitions:team", args=[competition.slug])))
    assert f"until {competition.merger_deadline:%Y-%m-%d %H:%M} UTC" in text
