"""A competition world with every kind of object, files included, and its four roles
(the `world` fixture of tests/conftest.py, used by tests/admin)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory
from rest_framework.authtoken.models import Token

from competitions.bundles import competition_import_bundle
from competitions.models import (
    AuditRecord,
    Competition,
    CompetitionFile,
    Submission,
    TeamInvitation,
    TeamMergeRequest,
)
from competitions.services.compute_queues import compute_queue_create
from competitions.services.files import competition_file_store
from uploads.services import upload_create


@dataclass
class World:
    competition: Competition
    draft: Competition
    staff: User
    participant: User
    other_team: User
    submissions: list[Submission]
    invitation: TeamInvitation
    merge_request: TeamMergeRequest

    def client(self, role: str) -> Client:
        client = Client()
        user = {
            "anonymous": None,
            "participant": self.participant,
            "other team": self.other_team,
            "staff": self.staff,
        }[role]
        if user is not None:
            client.force_login(user)
        return client


ROLES = ["anonymous", "participant", "other team", "staff"]


def make_world(digits_bundle: Path) -> World:
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    assert competition.is_published
    draft = CompetitionFactory(slug="draft", title="A draft", published_at=None)
    competition_file_store(
        competition=draft,
        kind=CompetitionFile.Kind.TRAIN,
        name="train.csv",
        content=BytesIO(b"id\n"),
    )
    staff = User.objects.create_superuser("organizer", "", "pw")
    mine = MembershipFactory(team__competition=competition, team__name="us")
    theirs = MembershipFactory(team__competition=competition, team__name="them")
    scored = SubmissionFactory(
        team=mine.team,
        user=mine.user,
        log_tail="epoch 1\nepoch 2\n",
        predictions=ContentFile(b"id,label\n1,3\n", name="p.csv"),
        duration_seconds=3.5,
        peak_memory_bytes=2**20,
    )
    failed = SubmissionFactory(
        team=mine.team,
        user=mine.user,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.RUNTIME_ERROR,
        failure_message="runtime error (exit code 1)",
        public_score=None,
        private_score=None,
        created_at=timezone.now() - dt.timedelta(hours=1),
    )
    rival = SubmissionFactory(team=theirs.team, user=theirs.user, public_score=0.7)
    invitation = TeamInvitation.objects.create(
        team=mine.team, invitee=UserFactory(username="carol"), invited_by=mine.user
    )
    merge_request = TeamMergeRequest.objects.create(
        source=theirs.team, target=mine.team, requested_by=theirs.user
    )
    AuditRecord.objects.create(
        competition=competition, actor=staff, action=AuditRecord.Action.OTHER, details={"a": 1}
    )
    upload_create(user=mine.user, competition=competition, filename="image.tar", size=10)
    compute_queue_create(owner=staff, name="lab", competitions=[draft])
    Token.objects.create(user=mine.user)
    # django-axes' records (attempts, failures, logins), made as a person makes them.
    login = Client()
    login.post(reverse("login"), {"username": "organizer", "password": "pw"})
    login.post(reverse("login"), {"username": "mallory", "password": "wrong"})
    return World(
        competition=competition,
        draft=draft,
        staff=staff,
        participant=mine.user,
        other_team=theirs.user,
        submissions=[scored, failed, rival],
        invitation=invitation,
        merge_request=merge_request,
    )
