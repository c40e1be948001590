"""The participant's pages through Django's test client: tabs, live status JSON,
submitting a finished upload, team and account pages, charts."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from artifacts import IMAGE_TAR
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory
from rest_framework.authtoken.models import Token

from competitions.models import Submission, TeamInvitation, TeamMembership
from competitions.templatetags import charts
from uploads.models import Upload
from uploads.services import upload_append, upload_create

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return response.content.decode()


@pytest.fixture
def member() -> TeamMembership:
    return MembershipFactory(team__name="pixel-pushers", user__username="alice")


@pytest.fixture
def alice(client: Client, member: TeamMembership) -> Client:
    client.force_login(member.user)
    return client


def page(name: str, member: TeamMembership) -> str:
    return reverse(f"competitions:{name}", args=[member.team.competition.slug])


def test_competition_list_groups_active_upcoming_and_past(client: Client) -> None:
    now = timezone.now()
    CompetitionFactory(title="Running now")
    CompetitionFactory(
        title="Next month", start=now + dt.timedelta(days=30), end=now + dt.timedelta(days=60)
    )
    CompetitionFactory(
        title="Last year", start=now - dt.timedelta(days=400), end=now - dt.timedelta(days=300)
    )
    text = html(client.get("/"))
    assert (
        text.index("Active")
        < text.index("Running now")
        < text.index("Upcoming")
        < text.index("Next month")
        < text.index("Past")
        < text.index("Last year")
    )


def test_every_tab_renders_and_marks_itself_current(alice: Client, member) -> None:
    for name, label in [
        ("detail", "Overview"),
        ("data", "Data"),
        ("rules", "Rules"),
        ("leaderboard", "Leaderboard"),
        ("submit", "Submit"),
        ("my_submissions", "My submissions"),
        ("team", "Team"),
    ]:
        response = alice.get(page(name, member))
        assert response.status_code == 200, name
        assert f'aria-current="page">{label}</a>' in html(response), name


def test_submit_page_shows_the_save_command_the_cli_and_the_upload_script(
    alice: Client, member
) -> None:
    text = html(alice.get(page("submit", member)))
    assert "docker save my-model | gzip &gt; image.tar.gz" in text
    slug = member.team.competition.slug
    assert f"podium competitions submit {slug} -f image.tar.gz" in text
    assert 'id="upload-progress"' in text and "/static/upload.js" in text
    assert 'data-uploads-url="/api/v1/uploads/"' in text
    assert "<noscript>" in text


def test_submitting_a_finished_upload_makes_the_submission(
    alice: Client, member, django_capture_on_commit_callbacks
) -> None:
    data = IMAGE_TAR
    upload = upload_create(
        user=member.user, competition=member.team.competition, filename="m.tar.gz", size=len(data)
    )
    upload_append(upload=upload, offset=0, stream=io.BytesIO(data), length=len(data))

    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(
            page("submit", member),
            {"upload": str(upload.pk), "description": "via upload"},
            follow=True,
        )

    submission = Submission.objects.get()
    assert response.redirect_chain == [(page("my_submissions", member), 302)]
    assert f"Submission {submission.pk} was received; its status below is live." in html(response)
    assert submission.image_size == len(data) and submission.description == "via upload"
    assert submission.image.name.endswith(".tar.gz")
    assert not Upload.objects.exists() and not upload.path.exists()


def test_submitting_an_incomplete_upload_says_so(alice: Client, member) -> None:
    upload = upload_create(
        user=member.user, competition=member.team.competition, filename="m.tar", size=100
    )
    response = alice.post(page("submit", member), {"upload": str(upload.pk)})
    assert "The upload is incomplete: 0 B of 100 B received." in html(response)
    assert not Submission.objects.exists()


def test_status_json_gives_queue_position_to_the_team_only(
    alice: Client, member: TeamMembership
) -> None:
    SubmissionFactory(status=Submission.Status.QUEUED, public_score=None, private_score=None)
    mine = SubmissionFactory(
        team=member.team, status=Submission.Status.QUEUED, public_score=None, private_score=None
    )
    url = reverse("competitions:submission_status", args=[mine.pk])

    body = alice.get(url).json()

    assert body["status"] == "queued" and body["queue_position"] == 2
    assert body["finished"] is False
    assert body["private_score"] is None
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(url).status_code == 404
    assert Client().get(url).status_code == 302


def test_status_json_of_a_running_submission_gives_elapsed_time_against_the_limit(
    alice: Client, member
) -> None:
    running = SubmissionFactory(
        team=member.team,
        status=Submission.Status.RUNNING,
        started_at=timezone.now() - dt.timedelta(seconds=90),
        public_score=None,
        private_score=None,
    )
    body = alice.get(reverse("competitions:submission_status", args=[running.pk])).json()
    assert 89 <= body["elapsed_seconds"] < 120
    assert body["time_limit_seconds"] == member.team.competition.time_limit_seconds
    assert body["queue_position"] is None


def test_unfinished_rows_are_polled_and_finished_ones_are_not(alice: Client, member) -> None:
    queued = SubmissionFactory(
        team=member.team, status=Submission.Status.QUEUED, public_score=None, private_score=None
    )
    scored = SubmissionFactory(team=member.team)
    text = html(alice.get(page("my_submissions", member)))
    assert reverse("competitions:submission_status", args=[queued.pk]) in text
    assert reverse("competitions:submission_status", args=[scored.pk]) not in text
    assert "/static/status.js" in text


def test_cancel_from_the_submission_page(alice: Client, member) -> None:
    queued = SubmissionFactory(
        team=member.team, status=Submission.Status.QUEUED, public_score=None, private_score=None
    )
    response = alice.post(reverse("competitions:submission_cancel", args=[queued.pk]), follow=True)
    queued.refresh_from_db()
    assert queued.status == Submission.Status.CANCELLED
    assert "is cancelled; it does not count." in html(response)


def test_choose_and_drop_a_final_submission(alice: Client, member) -> None:
    scored = SubmissionFactory(team=member.team)
    url = reverse("competitions:submission_select", args=[scored.pk])
    assert "is now a final submission" in html(alice.post(url, {"selected": "on"}, follow=True))
    scored.refresh_from_db()
    assert scored.is_selected
    alice.post(url, {"selected": ""})
    scored.refresh_from_db()
    assert not scored.is_selected


def test_my_submissions_draw_score_and_efficiency_charts(alice: Client, member) -> None:
    for i, (seconds, memory) in enumerate([(30, 2**28), (60, 2**29), (20, 2**30)]):
        SubmissionFactory(
            team=member.team,
            public_score=0.5 + i / 10,
            duration_seconds=seconds,
            peak_memory_bytes=memory,
        )
    text = html(alice.get(page("my_submissions", member)))
    assert text.count('<svg class="chart"') == 3
    assert "Public score over time" in text
    assert "Public score against run time" in text
    assert "Public score against peak memory" in text


def test_invite_then_accept_on_the_account_page(alice: Client, member) -> None:
    bob = MembershipFactory(team__competition=member.team.competition, user__username="bob")
    response = alice.post(page("team_invite", member), {"username": "bob"}, follow=True)
    assert "bob is invited" in html(response), html(response)
    invitation = TeamInvitation.objects.get()

    other = Client()
    other.force_login(bob.user)
    account = html(other.get(reverse("competitions:account")))
    assert "pixel-pushers" in account
    response = other.post(
        reverse("competitions:invitation_respond", args=[invitation.pk]),
        {"accept": "1"},
        follow=True,
    )
    assert "You joined team pixel-pushers." in html(response)
    assert TeamMembership.objects.get(user=bob.user).team == member.team
    team_page = html(alice.get(page("team", member)))
    assert "Members (2 of" in team_page and "bob" in team_page


def test_team_errors_are_shown_not_raised(alice: Client, member) -> None:
    response = alice.post(page("team_invite", member), {"username": "nobody"}, follow=True)
    assert response.status_code == 200
    assert 'class="error"' in html(response)


def test_account_page_creates_and_replaces_the_api_token(client: Client) -> None:
    user = User.objects.create_user("carol")
    client.force_login(user)
    assert "You have no API token yet." in html(client.get(reverse("competitions:account")))
    made = html(client.post(reverse("competitions:account"), follow=True))
    assert "Your API token was made" in made
    assert "the old one no longer works" not in made  # there was no old one
    first = Token.objects.get(user=user).key
    assert first in html(client.get(reverse("competitions:account")))
    replaced = html(client.post(reverse("competitions:account"), follow=True))
    assert "A new API token was made; the old one no longer works." in replaced
    assert Token.objects.get(user=user).key != first


def test_private_leaderboard_after_the_end_shows_the_shakeup_chart(client: Client) -> None:
    now = timezone.now()
    ended = CompetitionFactory(start=now - dt.timedelta(days=30), end=now - dt.timedelta(days=1))
    SubmissionFactory(
        team__competition=ended, team__name="steady", public_score=0.9, private_score=0.5
    )
    SubmissionFactory(
        team__competition=ended, team__name="climber", public_score=0.8, private_score=0.7
    )
    text = html(
        client.get(reverse("competitions:leaderboard", args=[ended.slug]) + "?kind=private")
    )
    assert "Shake-up: public rank against private rank" in text
    assert "climber: public 2, private 1 (+1)" in text


def test_pareto_front_keeps_runs_nothing_beats_on_cost_and_score() -> None:
    points = [(10, 0.5, "a"), (20, 0.7, "b"), (30, 0.6, "c"), (40, 0.9, "d")]
    assert [p[2] for p in charts.pareto_front(points, higher_is_better=True)] == ["a", "b", "d"]
    assert [p[2] for p in charts.pareto_front(points, higher_is_better=False)] == ["a"]
    assert charts.path_d([(0, 1), (2.5, 3)]) == "M0.0 1.0 L2.5 3.0"


def test_chart_labels_are_escaped() -> None:
    svg = charts.frontier_svg(
        [(1.0, 0.5, "<script>x</script>")], higher_is_better=True, x_label="t", x_format=str
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_a_leaderboard_page_past_the_last_shows_the_last(client: Client) -> None:
    competition = CompetitionFactory()
    for name, score in (("A", 0.9), ("B", 0.8), ("C", 0.7)):
        team = MembershipFactory(team__competition=competition, team__name=name).team
        SubmissionFactory(team=team, public_score=score)
    url = reverse("competitions:leaderboard", args=[competition.slug])
    for past in ("9", str(2**63 - 1), "9" * 30):  # beyond any database integer too
        page = html(client.get(url + f"?page={past}"))
        assert "No scored submissions yet" not in page
        assert all(score in page for score in ("0.90000", "0.80000", "0.70000"))

    api = f"/api/v1/competitions/{competition.slug}/leaderboard/?page={2**63 - 1}"
    answer = client.get(api)
    assert answer.status_code == 200
    assert answer.json()["entries"] == [] and answer.json()["total"] == 3


def test_logout_by_address_asks_before_logging_out(alice: Client) -> None:
    anonymous = Client()
    assert "You are not logged in." in html(anonymous.get("/accounts/logout/"))

    page = alice.get("/accounts/logout/")  # typed or bookmarked: a GET never logs out
    assert page.status_code == 200
    assert "You are logged in as <strong>alice</strong>" in html(page)
    assert "_auth_user_id" in alice.session

    response = alice.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in alice.session
