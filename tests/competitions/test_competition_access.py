"""Who may read which submission and which data file (the *_for_user selectors)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.http import Http404
from django.test import Client
from django.urls import reverse
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory

from competitions.models import Competition, CompetitionFile
from competitions.selectors import (
    competition_file_get_for_user,
    competition_files_for_user,
    submission_get_for_user,
    submissions_for_user,
    team_get_for_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_teams():
    competition = CompetitionFactory()
    mine = MembershipFactory(team__competition=competition, team__name="mine")
    teammate = MembershipFactory(team=mine.team)
    theirs = MembershipFactory(team__competition=competition, team__name="theirs")
    return {
        "competition": competition,
        "me": mine.user,
        "teammate": teammate.user,
        "them": theirs.user,
        "my_run": SubmissionFactory(team=mine.team, user=mine.user),
        "their_run": SubmissionFactory(team=theirs.team, user=theirs.user),
    }


# Teams


def test_members_get_their_own_team(two_teams) -> None:
    competition = two_teams["competition"]
    mine = team_get_for_user(user=two_teams["me"], competition=competition)
    assert mine.name == "mine"
    assert team_get_for_user(user=two_teams["teammate"], competition=competition) == mine
    assert team_get_for_user(user=two_teams["them"], competition=competition).name == "theirs"


@pytest.mark.parametrize("who", ["stranger", "elsewhere", "anonymous", "staff"])
def test_no_team_is_404_naming_the_competition(two_teams, who: str) -> None:
    user = {
        "stranger": lambda: UserFactory(),
        "elsewhere": lambda: MembershipFactory().user,  # a team in another competition
        "anonymous": AnonymousUser,
        "staff": lambda: UserFactory(is_staff=True),  # organizers see all, join nothing
    }[who]()
    competition = two_teams["competition"]
    message = f"You have not joined {competition.title}."
    with pytest.raises(Http404, match=f"^{re.escape(message)}$"):
        team_get_for_user(user=user, competition=competition)


# Submissions


def test_team_members_get_their_teams_submission(two_teams) -> None:
    run = two_teams["my_run"]
    assert submission_get_for_user(user=two_teams["me"], pk=run.pk) == run
    assert submission_get_for_user(user=two_teams["teammate"], pk=run.pk) == run


def test_another_teams_submission_is_404(two_teams) -> None:
    with pytest.raises(Http404):
        submission_get_for_user(user=two_teams["me"], pk=two_teams["their_run"].pk)


def test_anonymous_users_get_404_for_any_submission(two_teams) -> None:
    with pytest.raises(Http404):
        submission_get_for_user(user=AnonymousUser(), pk=two_teams["my_run"].pk)


def test_a_missing_submission_is_404(two_teams) -> None:
    with pytest.raises(Http404):
        submission_get_for_user(user=two_teams["me"], pk=10**9)


def test_staff_see_every_submission(two_teams) -> None:
    staff = UserFactory(is_staff=True)
    for key in ("my_run", "their_run"):
        assert submission_get_for_user(user=staff, pk=two_teams[key].pk) == two_teams[key]


def test_being_a_member_elsewhere_gives_no_access(two_teams) -> None:
    outsider = MembershipFactory().user
    with pytest.raises(Http404):
        submission_get_for_user(user=outsider, pk=two_teams["my_run"].pk)


def test_submission_lists_hold_only_the_own_teams_runs(two_teams) -> None:
    competition = two_teams["competition"]
    assert list(submissions_for_user(user=two_teams["teammate"], competition=competition)) == [
        two_teams["my_run"]
    ]
    assert not submissions_for_user(user=UserFactory(), competition=competition).exists()
    assert not submissions_for_user(user=AnonymousUser(), competition=competition).exists()


def test_submission_page_of_another_team_is_404(two_teams, client: Client) -> None:
    client.force_login(two_teams["me"])
    own = client.get(reverse("competitions:submission", args=[two_teams["my_run"].pk]))
    other = client.get(reverse("competitions:submission", args=[two_teams["their_run"].pk]))
    assert own.status_code == 200
    assert other.status_code == 404


# Data files


def kinds(files) -> set[str]:
    return {f.kind for f in files}


def test_participants_never_list_test_inputs_or_the_solution(digits: Competition) -> None:
    participant = MembershipFactory(team__competition=digits).user
    files = competition_files_for_user(user=participant, competition=digits)
    assert kinds(files) == {"train", "sample_submission"}


def test_only_members_who_accepted_the_rules_list_the_data(digits: Competition) -> None:
    other_team = MembershipFactory(team__competition=MembershipFactory().team.competition).user
    for user in (AnonymousUser(), UserFactory(), other_team):
        assert kinds(competition_files_for_user(user=user, competition=digits)) == set()


def test_staff_list_every_file(digits: Competition) -> None:
    staff = UserFactory(is_staff=True)
    files = competition_files_for_user(user=staff, competition=digits)
    assert kinds(files) == {"train", "test", "solution", "sample_submission"}


@pytest.mark.parametrize("kind", ["test", "solution"])
def test_participant_cannot_get_a_hidden_file_by_id(digits: Competition, kind: str) -> None:
    participant = MembershipFactory(team__competition=digits).user
    hidden = digits.files.get(kind=kind)
    with pytest.raises(Http404):
        competition_file_get_for_user(user=participant, competition=digits, pk=hidden.pk)


@pytest.mark.parametrize("kind", ["test", "solution"])
def test_download_of_a_hidden_file_is_404(digits: Competition, client: Client, kind: str) -> None:
    hidden = digits.files.get(kind=kind)
    url = reverse("competitions:download", args=[digits.slug, hidden.pk])
    assert client.get(url).status_code == 404
    client.force_login(MembershipFactory(team__competition=digits).user)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("kind", "source"),
    [("train", "train/train.csv"), ("sample_submission", "sample_submission.csv")],
)
def test_download_of_a_public_file_gives_its_content(
    digits: Competition, digits_bundle, client: Client, kind: str, source: str
) -> None:
    client.force_login(MembershipFactory(team__competition=digits).user)
    record = digits.files.get(kind=kind)

    response = client.get(reverse("competitions:download", args=[digits.slug, record.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (digits_bundle / source).read_bytes()
    assert f'filename="{record.name}"' in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment")


def test_staff_can_download_the_solution(digits: Competition, client: Client) -> None:
    client.force_login(UserFactory(is_staff=True))
    record = digits.files.get(kind="solution")
    response = client.get(reverse("competitions:download", args=[digits.slug, record.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).splitlines()[0] == b"id,label,Usage"


def test_a_file_is_only_downloadable_under_its_own_competition(
    digits: Competition, client: Client
) -> None:
    other = CompetitionFactory()
    train = digits.files.get(kind="train")
    response = client.get(reverse("competitions:download", args=[other.slug, train.pk]))
    assert response.status_code == 404


def test_download_name_cannot_climb_out_of_its_folder() -> None:
    competition = CompetitionFactory()
    record = CompetitionFile.objects.create(
        competition=competition,
        kind="train",
        name="../../images/../1.png",
        file=ContentFile(b"png", name="1.png"),
    )
    assert record.safe_name == "images/1.png"
    client = Client()
    client.force_login(MembershipFactory(team__competition=competition).user)
    response = client.get(reverse("competitions:download", args=[competition.slug, record.pk]))
    assert response.status_code == 200
    assert 'filename="images_1.png"' in response["Content-Disposition"]
