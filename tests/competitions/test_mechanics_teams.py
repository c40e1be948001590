"""Teams: rename, invitations, merges, size cap, merger deadline, submission allowance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from unittest import mock

import pytest
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory

from competitions.models import (
    AuditRecord,
    Competition,
    Submission,
    Team,
    TeamInvitation,
    TeamMembership,
    TeamMergeRequest,
)
from competitions.selectors import (
    invitations_for_user,
    merge_requests_for_team,
    team_for_user,
    team_members,
)
from competitions.services.teams import (
    competition_join,
    team_invitation_cancel,
    team_invitation_respond,
    team_invite,
    team_merge_request,
    team_merge_respond,
    team_rename,
)
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db

UTC = dt.UTC
START = dt.datetime(2030, 1, 1, tzinfo=UTC)
NOW = dt.datetime(2030, 1, 3, 12, tzinfo=UTC)  # the third UTC day of the competition


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        yield


@pytest.fixture
def comp() -> Competition:
    return CompetitionFactory(
        title="Digits",
        start=START,
        end=dt.datetime(2030, 2, 1, tzinfo=UTC),
        daily_submission_limit=2,
        max_team_size=3,
    )


def joined(comp: Competition, name: str) -> tuple[object, Team]:
    user = UserFactory(username=name)
    return user, competition_join(user=user, competition=comp)


def runs(team: Team, n: int) -> None:
    for _ in range(n):
        SubmissionFactory(team=team, created_at=START)


# rename


def test_rename_team(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    assert team_rename(user=alice, team=team, name="  The   Best ").name == "The Best"
    team.refresh_from_db()
    assert team.name == "The Best"


def test_rename_refuses_a_taken_name_and_strangers(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    bob, _ = joined(comp, "bob")
    with pytest.raises(ApplicationError) as exc:
        team_rename(user=alice, team=team, name="BOB")
    assert exc.value.message == "Another team in Digits is already called 'bob'."
    with pytest.raises(ApplicationError, match=r"Only members of team alice can rename it\."):
        team_rename(user=bob, team=team, name="x")
    with pytest.raises(ApplicationError, match="cannot be empty"):
        team_rename(user=alice, team=team, name="   ")


# invitations


def test_invitation_accepted_moves_the_invitee_and_removes_the_empty_team(
    comp: Competition,
) -> None:
    alice, team = joined(comp, "alice")
    bob, bobs_team = joined(comp, "bob")

    invitation = team_invite(user=alice, team=team, invitee_username="bob")
    assert list(invitations_for_user(user=bob, competition=comp)) == [invitation]

    accepted = team_invitation_respond(user=bob, invitation=invitation, accept=True)

    assert accepted.status == TeamInvitation.Status.ACCEPTED
    assert team_for_user(user=bob, competition=comp) == team
    assert [u.username for u in team_members(team=team)] == ["alice", "bob"]
    assert not Team.objects.filter(pk=bobs_team.pk).exists()
    assert list(invitations_for_user(user=bob, competition=comp)) == []


def test_invitee_must_have_joined_and_the_answer_hides_who_has_an_account(
    comp: Competition,
) -> None:
    alice, team = joined(comp, "alice")
    UserFactory(username="carol")  # an account, but not a participant
    with pytest.raises(ApplicationError) as exists:
        team_invite(user=alice, team=team, invitee_username="carol")
    with pytest.raises(ApplicationError) as missing:
        team_invite(user=alice, team=team, invitee_username="nobody")
    assert exists.value.message == (
        "No participant of Digits is called 'carol'. Check the spelling; they must join the "
        "competition (accept its rules) before they can be invited."
    )
    assert missing.value.message == exists.value.message.replace("carol", "nobody")
    assert exists.value.extra == missing.value.extra == {"code": "no_such_participant"}


def test_invitee_with_submissions_must_merge_instead(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    _, bobs = joined(comp, "bob")
    runs(bobs, 1)
    with pytest.raises(ApplicationError) as exc:
        team_invite(user=alice, team=team, invitee_username="bob")
    assert exc.value.message == (
        "bob has already made submissions in team bob; to join forces, ask for a merge of "
        "the two teams instead (a merge keeps both teams' submissions)."
    )


def test_invitee_with_only_cancelled_runs_can_be_invited_and_keeps_them(
    comp: Competition,
) -> None:
    alice, team = joined(comp, "alice")
    bob, bobs = joined(comp, "bob")
    run = SubmissionFactory(team=bobs, status=Submission.Status.CANCELLED, public_score=None)
    invitation = team_invite(user=alice, team=team, invitee_username="bob")
    team_invitation_respond(user=bob, invitation=invitation, accept=True)
    run.refresh_from_db()
    assert run.team == team


def test_team_size_cap_applies_to_invitations(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    for name in ("b", "c"):
        MembershipFactory(team=team, user=UserFactory(username=name))
    joined(comp, "dave")
    with pytest.raises(ApplicationError) as exc:
        team_invite(user=alice, team=team, invitee_username="dave")
    assert exc.value.message == (
        "Team alice has 3 member(s); with 1 more it would exceed the limit of 3 per team in Digits."
    )


def test_cap_is_checked_again_on_acceptance(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    bob, _ = joined(comp, "bob")
    invitation = team_invite(user=alice, team=team, invitee_username="bob")
    MembershipFactory(team=team)
    MembershipFactory(team=team)
    with pytest.raises(ApplicationError, match="exceed the limit of 3"):
        team_invitation_respond(user=bob, invitation=invitation, accept=True)
    assert team_for_user(user=bob, competition=comp) != team


def test_only_the_invitee_answers_and_only_once(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    bob, _ = joined(comp, "bob")
    invitation = team_invite(user=alice, team=team, invitee_username="bob")
    with pytest.raises(ApplicationError, match="Only the invited participant"):
        team_invitation_respond(user=alice, invitation=invitation, accept=True)
    assert team_invitation_respond(user=bob, invitation=invitation, accept=False).status == (
        "declined"
    )
    with pytest.raises(ApplicationError, match=r"This invitation is already declined\."):
        team_invitation_respond(user=bob, invitation=invitation, accept=True)


def test_inviter_can_withdraw(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    bob, _ = joined(comp, "bob")
    invitation = team_invite(user=alice, team=team, invitee_username="bob")
    with pytest.raises(ApplicationError, match="already has a pending invitation"):
        team_invite(user=alice, team=team, invitee_username="bob")
    with pytest.raises(ApplicationError, match="Only members of team alice"):
        team_invitation_cancel(user=bob, invitation=invitation)
    assert team_invitation_cancel(user=alice, invitation=invitation).status == "cancelled"


def test_no_team_changes_after_the_merger_deadline(comp: Competition) -> None:
    alice, team = joined(comp, "alice")
    bob, _ = joined(comp, "bob")
    invitation = team_invite(user=alice, team=team, invitee_username="bob")
    Competition.objects.filter(pk=comp.pk).update(merger_deadline=NOW - dt.timedelta(hours=1))
    comp.refresh_from_db()
    with pytest.raises(ApplicationError) as exc:
        team_invitation_respond(user=bob, invitation=invitation, accept=True)
    assert exc.value.message == (
        "Team changes in Digits closed at the merger deadline (2030-01-03 11:00 UTC); you "
        "can no longer join another team."
    )
    with pytest.raises(ApplicationError, match="merger deadline"):
        team_merge_request(user=alice, team=team, target_team_name="bob")


# merges


def test_merge_moves_members_and_submissions(comp: Competition) -> None:
    alice, a = joined(comp, "alice")
    bob, b = joined(comp, "bob")
    runs(a, 2)
    runs(b, 3)
    request = team_merge_request(user=alice, team=a, target_team_name="bob")
    assert list(merge_requests_for_team(team=b)) == [request]
    with pytest.raises(ApplicationError, match="Only members of team bob"):
        team_merge_respond(user=alice, merge_request=request, accept=True)

    assert team_merge_respond(user=bob, merge_request=request, accept=True).status == "accepted"

    assert team_for_user(user=alice, competition=comp) == b
    assert b.submissions.count() == 5
    assert not Team.objects.filter(pk=a.pk).exists()
    audit = AuditRecord.objects.get(competition=comp)
    assert audit.details["merge"] == {"source": "alice", "target": "bob"}


def test_merge_must_fit_the_daily_limit_times_days_elapsed(comp: Competition) -> None:
    alice, a = joined(comp, "alice")
    joined(comp, "bob")
    b = Team.objects.get(name="bob")
    runs(a, 4)
    runs(b, 3)  # 7 > 2 per day x 3 days
    with pytest.raises(ApplicationError) as exc:
        team_merge_request(user=alice, team=a, target_team_name="bob")
    assert exc.value.message == (
        "Together, alice and bob have made 7 submissions that count; a merged team may have at "
        "most 6 by now (the daily limit times the days since the start). Merge later, when "
        "the allowance has grown."
    )


def test_merge_respects_the_size_cap(comp: Competition) -> None:
    alice, a = joined(comp, "alice")
    MembershipFactory(team=a)
    _, b = joined(comp, "bob")
    MembershipFactory(team=b)
    with pytest.raises(ApplicationError, match="Team bob has 2 member\\(s\\); with 2 more"):
        team_merge_request(user=alice, team=a, target_team_name="bob")


def test_merge_over_the_final_selections_asks_to_unselect_first(comp: Competition) -> None:
    # A merge used to drop the requesting team's choices silently; now the teams choose.
    alice, a = joined(comp, "alice")
    bob, b = joined(comp, "bob")
    SubmissionFactory(team=a, created_at=START, is_selected=True)
    SubmissionFactory(team=b, created_at=START, is_selected=True)
    first = SubmissionFactory(team=b, created_at=START, is_selected=True)
    with pytest.raises(ApplicationError, match="Unselect some first"):
        team_merge_request(user=alice, team=a, target_team_name="bob")
    first.is_selected = False
    first.save(update_fields=["is_selected"])
    request = team_merge_request(user=alice, team=a, target_team_name="bob")
    team_merge_respond(user=bob, merge_request=request, accept=True)
    assert b.submissions.filter(is_selected=True).count() == 2


def test_merge_can_be_declined_or_withdrawn(comp: Competition) -> None:
    alice, a = joined(comp, "alice")
    bob, b = joined(comp, "bob")
    first = team_merge_request(user=alice, team=a, target_team_name="bob")
    with pytest.raises(ApplicationError, match="already pending"):
        team_merge_request(user=bob, team=b, target_team_name="alice")
    assert team_merge_respond(user=alice, merge_request=first, accept=False).status == ("cancelled")
    second = team_merge_request(user=alice, team=a, target_team_name="bob")
    assert team_merge_respond(user=bob, merge_request=second, accept=False).status == "declined"
    assert TeamMembership.objects.get(user=alice).team == a
    assert TeamMergeRequest.objects.filter(status="pending").count() == 0


def test_merge_with_unknown_or_own_team(comp: Competition) -> None:
    alice, a = joined(comp, "alice")
    with pytest.raises(ApplicationError, match=r"There is no team called 'ghost' in Digits\."):
        team_merge_request(user=alice, team=a, target_team_name="ghost")
    with pytest.raises(ApplicationError, match="cannot merge with itself"):
        team_merge_request(user=alice, team=a, target_team_name="alice")
