"""Teams: joining, renaming, invitations and merges.

Rules (Kaggle's, simplified where said):
- one team per user per competition (a database constraint), at most `max_team_size`
  members;
- team changes (accepting an invitation, merging) close at the merger deadline
  (`merger_deadline`, or the end when empty);
- an invitation brings one participant who has joined the competition, is alone in
  their team and has made no submission that counts; a participant who has submitted
  comes in through a merge of the two teams instead, which keeps every submission;
- a merge requires the merged team's counted submissions to fit within the daily limit
  times the UTC days since the start (and the total limit, if any);
- every move of submissions into a team (accepting an invitation, a merge) is refused
  when the receiving team would then be over any per-team limit: members, runs queued or
  running at once, today's submissions, today's debug runs, final selections
  (`_require_move_fits`, checked with both teams' rows locked, so that a submission
  created at the same moment is either counted or waits for the move).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from competitions import standings
from competitions.models import (
    AuditRecord,
    Competition,
    Submission,
    Team,
    TeamInvitation,
    TeamMembership,
    TeamMergeRequest,
)
from competitions.names import InvalidName, name_key, name_normalize
from competitions.services.common import (
    leaderboard_invalidate,
    require_member,
    require_organizer,
)
from competitions.services.notifications import notification_invitation
from competitions.services.submissions import counted_filter, submission_quota
from podium import throttling
from podium.errors import ApplicationError
from podium.units import format_duration

TEAM_NAME_MAX = 100


@transaction.atomic
def competition_join(*, user: User, competition: Competition) -> Team:
    """Accept the rules and give the user a one-person team (idempotent)."""
    membership = (
        TeamMembership.objects.select_related("team")
        .filter(competition=competition, user=user)
        .first()
    )
    if membership:
        return membership.team
    if competition.has_ended:
        raise ApplicationError(f"{competition.title} has ended; entry is closed.")
    base = user.get_username()[:90]
    name, n = base, 1
    while Team.objects.filter(competition=competition, name_key=name_key(name)).exists():
        n += 1
        name = f"{base} ({n})"
    team = Team.objects.create(competition=competition, name=name)
    TeamMembership.objects.create(
        team=team, competition=competition, user=user, rules_accepted_at=timezone.now()
    )
    return team


def merger_deadline(competition: Competition) -> dt.datetime:
    return competition.merger_deadline or competition.end


def _require_before_merger_deadline(competition: Competition, what: str) -> None:
    deadline = merger_deadline(competition)
    if timezone.now() >= deadline:
        raise ApplicationError(
            f"Team changes in {competition.title} closed at the merger deadline "
            f"({deadline:%Y-%m-%d %H:%M} UTC); you can no longer {what}.",
            {"code": "merger_deadline"},
        )


def _size(team: Team) -> int:
    return TeamMembership.objects.filter(team=team).count()


def _counted(team: Team) -> int:
    return Submission.objects.filter(Q(team=team) & counted_filter(team.competition)).count()


@transaction.atomic
def team_rename(*, user: User, team: Team, name: str) -> Team:
    """Rename the user's team; names are unique within a competition."""
    team = Team.objects.select_for_update().select_related("competition").get(pk=team.pk)
    require_member(user, team, "rename it")
    try:
        name = name_normalize(name, what="A team name", max_length=TEAM_NAME_MAX)
    except InvalidName as exc:
        raise ApplicationError(str(exc), {"code": "invalid_name"}) from exc
    if team.competition.has_ended:
        raise ApplicationError(
            f"{team.competition.title} has ended; team names are final.", {"code": "ended"}
        )
    if name == team.name:
        return team
    other = (
        Team.objects.filter(competition=team.competition, name_key=name_key(name))
        .exclude(pk=team.pk)
        .first()
    )
    if other is not None and other.name.casefold() == name.casefold():
        raise ApplicationError(
            f"Another team in {team.competition.title} is already called {other.name!r}.",
            {"code": "name_taken"},
        )
    if other is not None:
        raise ApplicationError(
            f"{name!r} looks the same as the name of another team in "
            f"{team.competition.title}, {other.name!r}; choose a clearly different name.",
            {"code": "name_taken"},
        )
    team.name = name
    team.save(update_fields=["name"])
    leaderboard_invalidate(competition_id=team.competition_id)
    return team


def _invitee_problem(competition: Competition, invitee: User, team: Team) -> str:
    """Why `invitee` cannot come into `team` by invitation, or ""."""
    username = invitee.get_username()
    membership = (
        TeamMembership.objects.select_related("team")
        .filter(competition=competition, user=invitee)
        .first()
    )
    if membership is None:
        return (
            f"{username} has not joined {competition.title}. They must join (accept its "
            "rules) before they can be invited."
        )  # team_invite answers this case before, as for an unknown name
    if membership.team_id == team.pk:
        return f"{username} is already in team {team.name}."
    if _size(membership.team) > 1:
        return (
            f"{username} is in team {membership.team.name} with others; to join forces, "
            "one team asks the other for a merge."
        )
    if _counted(membership.team):
        return (
            f"{username} has already made submissions in team {membership.team.name}; to "
            "join forces, ask for a merge of the two teams instead (a merge keeps both "
            "teams' submissions)."
        )
    return ""


def _require_room(team: Team, extra: int) -> None:
    limit = team.competition.max_team_size
    size = _size(team)
    if size + extra > limit:
        raise ApplicationError(
            f"Team {team.name} has {size} member(s); with {extra} more it would exceed the "
            f"limit of {limit} per team in {team.competition.title}.",
            {"code": "team_full"},
        )


def _require_move_fits(source: Team, target: Team) -> None:
    """Refuse moving every member and submission of `source` into `target` when `target`
    would then be over a per-team limit of their competition.

    Call with both team rows locked (select_for_update): submission_create locks its
    team's row too, so a run submitted meanwhile is counted here. Raises ApplicationError
    (codes `team_full`, `move_concurrent_limit`, `move_daily_limit`,
    `move_debug_daily_limit`, `move_selection_limit`) naming both teams, the count, the
    limit and what to do."""
    competition = target.competition
    _require_room(target, _size(source))
    theirs, ours = submission_quota(team=source), submission_quota(team=target)
    together = f"Together, {source.name} and {target.name}"
    running = theirs["running"] + ours["running"]
    max_concurrent = ours["max_concurrent"]
    if max_concurrent is not None and running > max_concurrent:
        raise ApplicationError(
            f"{together} have {running} submissions queued or running; a team of "
            f"{competition.title} may have at most {max_concurrent} at once. Wait for runs to "
            "finish or cancel some, then try again.",
            {"code": "move_concurrent_limit"},
        )
    used = theirs["used"] + ours["used"]
    if used > ours["limit"]:
        raise ApplicationError(
            f"{together} have made {used} submissions that count today (UTC day); a team of "
            f"{competition.title} may make at most {ours['limit']} a day. Try again after "
            f"{ours['resets_at']:%Y-%m-%d %H:%M} UTC.",
            {"code": "move_daily_limit"},
        )
    debug_used = theirs["debug_used"] + ours["debug_used"]
    if debug_used > ours["debug_limit"]:
        raise ApplicationError(
            f"{together} have made {debug_used} debug runs today (UTC day); a team of "
            f"{competition.title} may make at most {ours['debug_limit']} a day. Try again "
            f"after {ours['resets_at']:%Y-%m-%d %H:%M} UTC.",
            {"code": "move_debug_daily_limit"},
        )
    selected = Submission.objects.filter(team__in=[source, target], is_selected=True).count()
    if selected > competition.final_selections:
        raise ApplicationError(
            f"{together} have chosen {selected} final submissions; a team of "
            f"{competition.title} may choose at most {competition.final_selections}. "
            "Unselect some first, so that no final choice is dropped without asking.",
            {"code": "move_selection_limit"},
        )


@transaction.atomic
def team_invite(*, user: User, team: Team, invitee_username: str) -> TeamInvitation:
    """Invite a participant (by username) into the user's team."""
    team = Team.objects.select_for_update().select_related("competition").get(pk=team.pk)
    competition = team.competition
    require_member(user, team, "invite people into it")
    _require_before_merger_deadline(competition, "invite people into your team")
    invitee = get_user_model().objects.filter(username=invitee_username.strip()).first()
    if (
        invitee is None
        or not TeamMembership.objects.filter(competition=competition, user=invitee).exists()
    ):
        # One answer whether or not the account exists: who has an account is not
        # public, only who takes part (team names on the leaderboard).
        raise ApplicationError(
            f"No participant of {competition.title} is called {invitee_username.strip()!r}. "
            "Check the spelling; they must join the competition (accept its rules) before "
            "they can be invited.",
            {"code": "no_such_participant"},
        )
    if problem := _invitee_problem(competition, invitee, team):
        raise ApplicationError(problem, {"code": "cannot_invite"})
    _require_room(team, 1)
    if TeamInvitation.objects.filter(
        team=team, invitee=invitee, status=TeamInvitation.Status.PENDING
    ).exists():
        raise ApplicationError(
            f"{invitee.get_username()} already has a pending invitation to {team.name}.",
            {"code": "already_invited"},
        )
    _require_invitation_allowance(user)
    invitation = TeamInvitation.objects.create(team=team, invitee=invitee, invited_by=user)
    notification_invitation(invitation=invitation)
    return invitation


def _require_invitation_allowance(user: User) -> None:
    """Count one invitation sent by ``user`` (PODIUM_INVITATION_RATE, atomic across web
    processes): invitations notify another person, so one account cannot flood others."""
    rate = throttling.configured_rate("PODIUM_INVITATION_RATE")
    outcome = throttling.hit(scope="invitation", ident=str(user.pk), rate=rate)
    if not outcome.allowed:
        raise ApplicationError(
            f"You have sent the most invitations one person may send ({rate.limit} per "
            f"{format_duration(rate.window_seconds)}). Try again {throttling.retry_text(outcome)}.",
            {"code": "invitation_limit"},
        )


def _locked_invitation(invitation: TeamInvitation) -> TeamInvitation:
    return (
        TeamInvitation.objects.select_for_update()
        .select_related("team__competition", "invitee")
        .get(pk=invitation.pk)
    )


def _require_pending(status: str, what: str) -> None:
    if status != "pending":
        raise ApplicationError(f"This {what} is already {status}.", {"code": "not_pending"})


@transaction.atomic
def team_invitation_respond(
    *, user: User, invitation: TeamInvitation, accept: bool
) -> TeamInvitation:
    """The invitee accepts (and moves into the team) or declines."""
    invitation = _locked_invitation(invitation)
    if invitation.invitee_id != user.pk:
        raise ApplicationError(
            "Only the invited participant can answer this invitation.", {"code": "not_invitee"}
        )
    _require_pending(invitation.status, "invitation")
    team = Team.objects.select_related("competition").get(pk=invitation.team_id)
    competition = team.competition
    invitation.responded_at = timezone.now()
    if not accept:
        invitation.status = TeamInvitation.Status.DECLINED
        invitation.save(update_fields=["status", "responded_at"])
        return invitation
    _require_before_merger_deadline(competition, "join another team")
    membership = TeamMembership.objects.get(competition=competition, user=user)
    # Lock both teams (the invitee's runs move too) in one order, pk, as a merge does: two
    # orders could deadlock an accepted invitation against an accepted merge.
    locked = {
        locked_team.pk: locked_team
        for locked_team in Team.objects.select_for_update()
        .select_related("competition")
        .filter(pk__in=[team.pk, membership.team_id])
        .order_by("pk")
    }
    if team.pk not in locked or membership.team_id not in locked:
        raise ApplicationError(
            "A team changed while you answered (a merge or another invitation was accepted): "
            "reload the page and try again.",
            {"code": "team_changed"},
        )
    team, old_team = locked[team.pk], locked[membership.team_id]
    if problem := _invitee_problem(competition, user, team):
        raise ApplicationError(problem, {"code": "cannot_join"})
    _require_move_fits(old_team, team)
    # Uncounted runs (cancelled, debug, platform errors) follow their author.
    Submission.objects.filter(team=old_team).update(team=team, is_selected=False)
    membership.team = team
    membership.save(update_fields=["team"])
    TeamInvitation.objects.filter(
        invitee=user, team__competition=competition, status=TeamInvitation.Status.PENDING
    ).exclude(pk=invitation.pk).update(
        status=TeamInvitation.Status.CANCELLED, responded_at=invitation.responded_at
    )
    standings.board_lock(competition_id=competition.pk)
    old_team.delete()
    standings.ranks_rebuild(competition_id=competition.pk)
    standings.board_changed(competition_id=competition.pk)
    standings.standing_refresh(team_id=team.pk)
    invitation.status = TeamInvitation.Status.ACCEPTED
    invitation.save(update_fields=["status", "responded_at"])
    leaderboard_invalidate(competition_id=competition.pk)
    return invitation


@transaction.atomic
def team_invitation_cancel(*, user: User, invitation: TeamInvitation) -> TeamInvitation:
    """A member of the inviting team withdraws a pending invitation."""
    invitation = _locked_invitation(invitation)
    require_member(user, invitation.team, "withdraw its invitations")
    _require_pending(invitation.status, "invitation")
    invitation.status = TeamInvitation.Status.CANCELLED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    return invitation


def merge_allowance(*, competition: Competition, now: dt.datetime | None = None) -> int:
    """How many counted submissions a merged team may have: Kaggle's daily limit times
    the UTC days the competition has run, today included."""
    now = now or timezone.now()
    days = (now.astimezone(dt.UTC).date() - competition.start.astimezone(dt.UTC).date()).days
    allowance = competition.daily_submission_limit * max(1, days + 1)
    if competition.total_submission_limit is not None:
        allowance = min(allowance, competition.total_submission_limit)
    return allowance


def _check_merge(source: Team, target: Team) -> None:
    competition = target.competition
    _require_before_merger_deadline(competition, "merge teams")
    if source.competition_id != target.competition_id:
        raise ApplicationError("Teams of different competitions cannot merge.")
    _require_move_fits(source, target)
    counts = dict(
        Submission.objects.filter(Q(team__in=[source, target]) & counted_filter(competition))
        .values_list("team_id")
        .annotate(n=Count("pk"))
    )
    total = counts.get(source.pk, 0) + counts.get(target.pk, 0)
    allowance = merge_allowance(competition=competition)
    if total > allowance:
        raise ApplicationError(
            f"Together, {source.name} and {target.name} have made {total} submissions that "
            f"count; a merged team may have at most {allowance} by now (the daily limit "
            "times the days since the start). Merge later, when the allowance has grown.",
            {"code": "merge_too_many_submissions"},
        )


@transaction.atomic
def team_merge_request(*, user: User, team: Team, target_team_name: str) -> TeamMergeRequest:
    """Ask that the user's team (`team`) merges into the team called `target_team_name`."""
    source = Team.objects.select_for_update().select_related("competition").get(pk=team.pk)
    require_member(user, source, "ask for a merge")
    competition = source.competition
    target = Team.objects.filter(competition=competition, name=target_team_name.strip()).first()
    if target is None:
        raise ApplicationError(
            f"There is no team called {target_team_name.strip()!r} in {competition.title}.",
            {"code": "no_such_team"},
        )
    if target.pk == source.pk:
        raise ApplicationError("A team cannot merge with itself.", {"code": "merge_self"})
    _check_merge(source, target)
    pending = TeamMergeRequest.objects.filter(
        Q(source=source, target=target) | Q(source=target, target=source),
        status=TeamMergeRequest.Status.PENDING,
    )
    if pending.exists():
        raise ApplicationError(
            f"A merge of {source.name} and {target.name} is already pending.",
            {"code": "merge_pending"},
        )
    return TeamMergeRequest.objects.create(source=source, target=target, requested_by=user)


@transaction.atomic
def team_merge_respond(
    *, user: User, merge_request: TeamMergeRequest, accept: bool
) -> TeamMergeRequest:
    """A member of the target team accepts or declines; a member of the requesting team
    may withdraw (accept=False) its own request."""
    request = (
        TeamMergeRequest.objects.select_for_update()
        .select_related("source__competition", "target__competition")
        .get(pk=merge_request.pk)
    )
    _require_pending(request.status, "merge request")
    source, target = request.source, request.target
    in_target = TeamMembership.objects.filter(team=target, user=user).exists()
    in_source = TeamMembership.objects.filter(team=source, user=user).exists()
    request.responded_at = timezone.now()
    if not accept and in_source:
        request.status = TeamMergeRequest.Status.CANCELLED
        request.save(update_fields=["status", "responded_at"])
        return request
    if not in_target:
        raise ApplicationError(
            f"Only members of team {target.name} can answer this merge request.",
            {"code": "not_member"},
        )
    if not accept:
        request.status = TeamMergeRequest.Status.DECLINED
        request.save(update_fields=["status", "responded_at"])
        return request
    # Both rows locked in one order (pk) before anything is counted; see _require_move_fits.
    list(Team.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk"))
    _check_merge(source, target)
    Submission.objects.filter(team=source).update(team=target)
    TeamMembership.objects.filter(team=source).update(team=target)
    request.status = TeamMergeRequest.Status.ACCEPTED
    # Deleting the emptied source team cascades to its requests, this one included; the
    # audit record keeps the history.
    AuditRecord.objects.create(
        competition=target.competition,
        actor=user,
        action=AuditRecord.Action.OTHER,
        details={
            "merge": {"source": source.name, "target": target.name},
            "requested_by": request.requested_by_id,
            "members": list(target.memberships.values_list("user_id", flat=True)),
        },
    )
    standings.board_lock(competition_id=target.competition_id)
    source.delete()
    standings.ranks_rebuild(competition_id=target.competition_id)
    standings.board_changed(competition_id=target.competition_id)
    standings.standing_refresh(team_id=target.pk)
    leaderboard_invalidate(competition_id=target.competition_id)
    return request


@transaction.atomic
def teams_delete(*, actor: User, teams: QuerySet[Team]) -> int:
    """Delete teams (an organizer's action in the admin) with their submissions and
    standings; the boards they leave get their comparisons refreshed after the commit.
    Returns how many teams were deleted; raises ApplicationError for a non-organizer."""
    require_organizer(actor, "delete teams")
    rows = list(teams.select_for_update().values_list("pk", "competition_id"))
    competition_ids = sorted({competition_id for _, competition_id in rows})
    for competition_id in competition_ids:
        standings.board_lock(competition_id=competition_id)
    Team.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    for competition_id in competition_ids:
        standings.ranks_rebuild(competition_id=competition_id)
        standings.board_changed(competition_id=competition_id)
        leaderboard_invalidate(competition_id=competition_id)
    return len(rows)
