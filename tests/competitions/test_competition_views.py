"""The server-rendered pages, through Django's test client."""

from __future__ import annotations

import datetime as dt

import pytest
from artifacts import IMAGE_TAR
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, TeamFactory

from competitions.models import Competition, Submission, TeamMembership

pytestmark = pytest.mark.django_db

PRIVATE_SCORE = 0.123456
PRIVATE_SHOWN = "0.12346"  # the score filter prints five decimals


def html(response) -> str:
    return response.content.decode()


def url(name: str, competition: Competition) -> str:
    return reverse(f"competitions:{name}", args=[competition.slug])


@pytest.fixture
def participant(digits: Competition) -> TeamMembership:
    return MembershipFactory(
        team__competition=digits, team__name="pixel-pushers", user__username="alice"
    )


@pytest.fixture
def alice(client: Client, participant: TeamMembership) -> Client:
    client.force_login(participant.user)
    return client


@pytest.fixture
def ended() -> Competition:
    return CompetitionFactory(
        title="Finished",
        start=timezone.now() - dt.timedelta(days=30),
        end=timezone.now() - dt.timedelta(days=1),
    )


# Accounts


def test_sign_up_creates_the_account_and_logs_in(client: Client) -> None:
    response = client.post(
        reverse("signup"),
        {
            "username": "newbie",
            "email": "newbie@example.org",
            "password1": "an-unusual-passphrase-42",
            "password2": "an-unusual-passphrase-42",
        },
        follow=True,
    )

    assert response.redirect_chain == [(reverse("competitions:list"), 302)]
    user = User.objects.get(username="newbie")
    assert user.email == "newbie@example.org"
    assert response.wsgi_request.user == user
    assert "Welcome, newbie." in html(response)


def test_sign_up_with_mismatched_passwords_shows_the_form_again(client: Client) -> None:
    response = client.post(
        reverse("signup"),
        {"username": "newbie", "password1": "an-unusual-passphrase-42", "password2": "other"},
    )
    assert response.status_code == 200
    assert "password fields didn" in html(response)
    assert not User.objects.filter(username="newbie").exists()


# Browsing


def test_competition_list_shows_the_competition(client: Client, digits: Competition) -> None:
    response = client.get(reverse("competitions:list"))
    assert response.status_code == 200
    assert "Handwritten digits" in html(response)
    assert digits.get_absolute_url() in html(response)
    assert "Open" in html(response)


def test_detail_shows_overview_files_and_public_leaderboard(
    client: Client, digits: Competition, participant: TeamMembership
) -> None:
    SubmissionFactory(team=participant.team, public_score=0.875, private_score=PRIVATE_SCORE)
    other = TeamFactory(competition=digits, name="gradient-gang")
    SubmissionFactory(team=other, public_score=0.9125, private_score=0.5)

    response = client.get(digits.get_absolute_url())
    page = html(response)

    assert response.status_code == 200
    assert "<h2>Recognise handwritten digits</h2>" in page
    assert "Public leaderboard" in page
    assert page.index("gradient-gang") < page.index("pixel-pushers")
    assert "0.91250" in page
    assert "0.87500" in page
    assert PRIVATE_SHOWN not in page
    for f in digits.files.all():
        link = reverse("competitions:download", args=[digits.slug, f.pk])
        assert link not in page, f"{f.kind} offered before the rules were accepted"
    assert "accept its rules) to download" in page
    assert "Log in</a> or" in page

    client.force_login(participant.user)
    page = html(client.get(digits.get_absolute_url()))
    for f in digits.files.all():
        link = reverse("competitions:download", args=[digits.slug, f.pk])
        assert (link in page) == f.is_public, f.kind


def test_leaderboard_page_hides_private_scores_from_participants_before_the_end(
    alice: Client, digits: Competition, participant: TeamMembership
) -> None:
    SubmissionFactory(team=participant.team, public_score=0.875, private_score=PRIVATE_SCORE)
    response = alice.get(url("leaderboard", digits) + "?kind=private")
    assert response.status_code == 200
    assert "The private leaderboard is hidden until the competition ends." in html(response)
    assert PRIVATE_SHOWN not in html(response)


def test_leaderboard_page_shows_private_scores_after_the_end(client: Client, ended) -> None:
    SubmissionFactory(
        team__competition=ended, team__name="winners", public_score=0.5, private_score=0.654321
    )
    response = client.get(url("leaderboard", ended) + "?kind=private")
    assert "Private leaderboard" in html(response)
    assert "winners" in html(response)
    assert "0.65432" in html(response)


def test_leaderboard_page_query_count_does_not_grow_with_teams(client: Client) -> None:
    counts = []
    for teams in (3, 30):
        competition = CompetitionFactory()
        for i in range(teams):
            SubmissionFactory(team__competition=competition, public_score=i / 100)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("leaderboard", competition))
        assert html(response).count("<tr>") + html(response).count('<tr class="mine">') == teams + 1
        counts.append(len(queries))
    assert counts[0] == counts[1]


# Joining


def test_join_requires_the_rules_checkbox(client: Client, digits: Competition) -> None:
    user = MembershipFactory().user  # a member of some other competition
    client.force_login(user)

    response = client.post(url("join", digits), {}, follow=True)

    assert response.redirect_chain[-1][0] == digits.get_absolute_url()
    assert "Accept the rules to join." in html(response)
    assert not TeamMembership.objects.filter(competition=digits, user=user).exists()


def test_join_with_the_rules_accepted_leads_to_the_submit_page(
    client: Client, digits: Competition
) -> None:
    user = User.objects.create_user("bob", password="x")
    client.force_login(user)

    response = client.post(url("join", digits), {"accept_rules": "on"}, follow=True)

    assert response.redirect_chain[-1][0] == url("submit", digits)
    assert "You joined Handwritten digits as team bob." in html(response)
    assert TeamMembership.objects.get(competition=digits, user=user).team.name == "bob"


def test_join_needs_a_login(client: Client, digits: Competition) -> None:
    response = client.post(url("join", digits), {"accept_rules": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not TeamMembership.objects.exists()


def test_join_after_the_end_shows_why(client: Client, ended: Competition) -> None:
    client.force_login(User.objects.create_user("late-comer"))
    response = client.post(url("join", ended), {"accept_rules": "on"}, follow=True)
    assert "Finished has ended; entry is closed." in html(response)
    assert not TeamMembership.objects.exists()


def test_detail_offers_the_join_form_to_a_logged_in_stranger(
    client: Client, digits: Competition
) -> None:
    client.force_login(User.objects.create_user("stranger"))
    page = html(client.get(digits.get_absolute_url()))
    assert 'name="accept_rules"' in page
    assert "Join competition" in page


# Submitting


def test_submit_page_shows_limits_and_remaining_quota(
    alice: Client, digits: Competition, participant: TeamMembership
) -> None:
    SubmissionFactory(team=participant.team)

    page = html(alice.get(url("submit", digits)))

    assert "Memory: 2 GB (no swap)" in page
    assert "CPUs: 1.0 · GPUs: 0" in page
    assert "Time: 10 min" in page
    assert "Image archive: at most 4 GB" in page
    assert "Team pixel-pushers: 19 of 20 submissions left today" in page
    tomorrow = (timezone.now() + dt.timedelta(days=1)).astimezone(dt.UTC)
    assert f"resets {tomorrow:%Y-%m-%d} 00:00 UTC" in page


def test_submit_page_sends_a_non_member_to_the_rules(client: Client, digits: Competition) -> None:
    client.force_login(User.objects.create_user("stranger"))
    response = client.get(url("submit", digits), follow=True)
    assert response.redirect_chain == [(digits.get_absolute_url(), 302)]
    assert "Join the competition (accept its rules) to submit." in html(response)


def test_posting_an_image_queues_a_submission_and_shows_it(
    alice: Client, digits: Competition, participant: TeamMembership
) -> None:
    upload = SimpleUploadedFile("image.tar", IMAGE_TAR)

    response = alice.post(
        url("submit", digits), {"image": upload, "description": "baseline"}, follow=True
    )

    submission = Submission.objects.get()
    assert response.redirect_chain == [(url("my_submissions", digits), 302)]
    assert submission.status == Submission.Status.QUEUED
    assert submission.team == participant.team
    assert submission.image_size == len(IMAGE_TAR)
    page = html(response)
    assert f"Submission {submission.pk} was received; its status below is live." in page
    assert "baseline" in page
    assert "Queued" in page


def test_posting_an_oversized_image_shows_the_limit(alice: Client, digits: Competition) -> None:
    digits.image_size_limit_bytes = 1024
    digits.save(update_fields=["image_size_limit_bytes"])

    upload = SimpleUploadedFile("image.tar", b"x" * 4096)
    response = alice.post(url("submit", digits), {"image": upload})

    assert response.status_code == 200
    assert "The image archive is 4 KB; the limit is 1 KB." in html(response)
    assert not Submission.objects.exists()


def test_posting_without_a_file_shows_the_form_error(alice: Client, digits: Competition) -> None:
    response = alice.post(url("submit", digits), {"description": "oops"})
    assert response.status_code == 200
    assert "This field is required." in html(response)
    assert not Submission.objects.exists()


# My submissions


def test_my_submissions_show_status_and_failure_but_no_private_score_before_the_end(
    alice: Client, digits: Competition, participant: TeamMembership
) -> None:
    SubmissionFactory(team=participant.team, public_score=0.875, private_score=PRIVATE_SCORE)
    SubmissionFactory(
        team=participant.team,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.RUNTIME_ERROR,
        failure_message="Your container exited with code 1: ValueError: bad shape",
        public_score=None,
        private_score=None,
    )
    SubmissionFactory(team=participant.team, status=Submission.Status.QUEUED, public_score=None)

    page = html(alice.get(url("my_submissions", digits)))

    assert "Scored" in page
    assert "Queued" in page
    assert "0.87500" in page
    # A scored run's failure is told from a template: the stored detail (its own text)
    # stays with the organizers (competitions.run_reports).
    assert "<strong>Runtime error</strong>: Your run exited with a non-zero exit code." in page
    assert "bad shape" not in page
    assert "Private score" not in page
    assert PRIVATE_SHOWN not in page
    assert str(PRIVATE_SCORE) not in page


def test_my_submissions_show_the_private_score_after_the_end(client: Client, ended) -> None:
    membership = MembershipFactory(team__competition=ended)
    SubmissionFactory(team=membership.team, public_score=0.875, private_score=PRIVATE_SCORE)
    client.force_login(membership.user)

    page = html(client.get(url("my_submissions", ended)))

    assert "Private score" in page
    assert PRIVATE_SHOWN in page


def test_my_submissions_do_not_list_other_teams_runs(alice: Client, digits: Competition) -> None:
    SubmissionFactory(team__competition=digits, description="someone else's secret plan")
    page = html(alice.get(url("my_submissions", digits)))
    assert "someone else" not in page
    assert "No submissions yet." in page


def test_submission_descriptions_are_escaped(
    alice: Client, digits: Competition, participant: TeamMembership
) -> None:
    SubmissionFactory(team=participant.team, description="<script>alert(1)</script>")
    page = html(alice.get(url("my_submissions", digits)))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_submission_page_hides_the_private_score_before_the_end(
    alice: Client, participant: TeamMembership
) -> None:
    submission = SubmissionFactory(
        team=participant.team, public_score=0.875, private_score=PRIVATE_SCORE
    )
    page = html(alice.get(submission.get_absolute_url()))
    assert "0.87500" in page
    assert "Private score" not in page
    assert PRIVATE_SHOWN not in page


def test_submission_page_shows_the_private_score_after_the_end(client: Client, ended) -> None:
    membership = MembershipFactory(team__competition=ended)
    submission = SubmissionFactory(team=membership.team, private_score=PRIVATE_SCORE)
    client.force_login(membership.user)
    page = html(client.get(submission.get_absolute_url()))
    assert PRIVATE_SHOWN in page


def test_pages_for_a_missing_competition_are_404(client: Client) -> None:
    assert client.get(reverse("competitions:detail", args=["nope"])).status_code == 404
    assert client.get(reverse("competitions:leaderboard", args=["nope"])).status_code == 404


def test_sign_up_does_not_redirect_to_another_site(client: Client) -> None:
    response = client.post(
        reverse("signup") + "?next=https://evil.example/phish",
        {
            "username": "newbie",
            "email": "newbie@example.org",
            "password1": "an-unusual-passphrase-42",
            "password2": "an-unusual-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")
