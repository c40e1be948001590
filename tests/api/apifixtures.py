"""Helpers for the API and CLI tests: a competition with every kind of data file, two
teams with runs, and token-authenticated clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test.utils import override_settings
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from competitions.models import Competition, CompetitionFile, Submission, TeamMembership

# Values that must never reach a participant before the reveal, or ever.
SECRET_PRIVATE_SCORE = 0.918273
SECRET_LABEL = "label-that-only-the-solution-has"
SECRET_TEST_INPUT = "pixels-only-the-test-inputs-have"
SECRET_LOG = "log-line-that-may-print-test-inputs"


def token_client(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def store(competition: Competition, kind: str, name: str, content: str) -> CompetitionFile:
    return CompetitionFile.objects.create(
        competition=competition,
        kind=kind,
        name=name,
        file=ContentFile(content.encode(), name=name.rsplit("/", 1)[-1]),
        size=len(content.encode()),
    )


@dataclass
class Arena:
    """One open competition, our team (`me`) and a rival team, each with runs."""

    competition: Competition
    me: TeamMembership
    rival: TeamMembership
    mine: Submission
    theirs: Submission
    train: CompetitionFile
    sample: CompetitionFile
    test: CompetitionFile
    solution: CompetitionFile


def make_arena(slug: str = "arena", ended: bool = False) -> Arena:
    now = timezone.now()
    competition = CompetitionFactory(
        slug=slug,
        title="The arena",
        start=now - dt.timedelta(days=30 if ended else 1),
        end=now - dt.timedelta(days=1) if ended else now + dt.timedelta(days=30),
        daily_submission_limit=3,
        log_visibility=Competition.LogVisibility.HIDDEN,
    )
    me = MembershipFactory(team__competition=competition, team__name="us", user__username="alice")
    rival = MembershipFactory(
        team__competition=competition, team__name="them", user__username="mallory"
    )
    run = {"private_score": SECRET_PRIVATE_SCORE, "log_tail": SECRET_LOG}
    mine = SubmissionFactory(team=me.team, user=me.user, public_score=0.8, **run)
    theirs = SubmissionFactory(team=rival.team, user=rival.user, public_score=0.9, **run)
    return Arena(
        competition=competition,
        me=me,
        rival=rival,
        mine=mine,
        theirs=theirs,
        train=store(competition, "train", "train.csv", "id,pixels,label\n1,0 1,3\n"),
        sample=store(competition, "sample_submission", "sample_submission.csv", "id,label\n9,0\n"),
        test=store(competition, "test", "test.csv", f"id,pixels\n9,{SECRET_TEST_INPUT}\n"),
        solution=store(competition, "solution", "solution.csv", f"id,label\n9,{SECRET_LABEL}\n"),
    )


@pytest.fixture(scope="session")
def _media_url_while_the_live_server_starts() -> Iterator[override_settings]:
    # Django's live server wraps the site in a media-files handler built from MEDIA_URL,
    # which Podium sets to None (media is never served) and which that handler cannot
    # parse. A URL on another host makes the handler serve nothing, as intended.
    override = override_settings(MEDIA_URL="http://media.invalid/")
    override.enable()
    yield override


@pytest.fixture(scope="session")
def live_server(_media_url_while_the_live_server_starts, live_server):  # type: ignore[no-untyped-def]
    _media_url_while_the_live_server_starts.disable()
    return live_server
