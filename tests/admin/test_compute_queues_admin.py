"""Organizer compute queues in the admin, under the production settings, as each staff
role: the owner creates one and sees its secret once; another organizer neither sees it
nor can take its competitions; staff who organize nothing can give a queue nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from factories import SubmissionFactory, TeamFactory, UserFactory
from test_admin_crawl import collected_static, production  # noqa: F401 - fixtures

from competitions.evaluation import credentials
from competitions.models import Competition, ComputeQueue, Submission

pytestmark = pytest.mark.usefixtures("production")  # the settings `./podiumctl up` runs with
ADD = reverse("admin:competitions_computequeue_add")
CHANGELIST = reverse("admin:competitions_computequeue_changelist")
QUEUE_PAGE = reverse("admin:competitions_submission_changelist") + "?queue=waiting"
SECRET = re.compile(r"PODIUM_COMPUTE_HOST_TOKEN=(pcq_[A-Za-z0-9_-]+)")


def _staff(name: str, *codenames: str) -> Client:
    user = UserFactory(username=name, is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    return client


QUEUE_PERMS = ("add_computequeue", "change_computequeue", "view_computequeue")
ORGANIZER = (*QUEUE_PERMS, "change_competition", "view_competition", "view_submission")


def _claim(competition: Competition, secret: str) -> int:
    run = SubmissionFactory(
        competition=competition,
        team=TeamFactory(competition=competition),
        status=Submission.Status.QUEUED,
        public_score=None,
        private_score=None,
    )
    response = Client().post(
        f"/compute/v1/runs/{run.pk}/claim",
        {"worker": "lab/1-2"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Run {credentials.dispatch_token(submission_id=run.pk)}",
        HTTP_X_PODIUM_HOST_TOKEN=secret,
    )
    return int(response.status_code)


@pytest.mark.django_db
def test_an_organizer_creates_a_queue_sees_its_secret_once_and_its_hosts_on_the_queue_page(
    digits: Competition,
) -> None:
    alice = _staff("alice", *ORGANIZER)
    bob = _staff("bob", *ORGANIZER)
    page = alice.post(ADD, {"name": "alice-lab", "competitions": [digits.pk]})
    assert page.status_code == 200, page.content[:2000]
    html = page.content.decode()
    [secret] = SECRET.findall(html)
    assert "PODIUM_COMPUTE_QUEUES=org-alice-lab" in html and "shown only once" in html
    stored = ComputeQueue.objects.get(name="alice-lab")
    assert stored.owner.username == "alice" and secret not in stored.token_hash
    digits.refresh_from_db()
    assert digits.compute_queue == stored
    # The secret is never shown again, and it works where it should.
    change = alice.get(reverse("admin:competitions_computequeue_change", args=[stored.pk]))
    assert change.status_code == 200 and secret not in change.content.decode()
    assert secret not in alice.get(CHANGELIST).content.decode()
    assert _claim(digits, secret) == 200

    # Another organizer sees neither the queue nor its hosts, and cannot take digits.
    assert "alice-lab" not in bob.get(CHANGELIST).content.decode()
    hidden = bob.get(reverse("admin:competitions_computequeue_change", args=[stored.pk]))
    assert hidden.status_code == 302  # the admin's "does not exist"
    refused = bob.post(ADD, {"name": "bob-lab", "competitions": [digits.pk]})
    assert (
        refused.status_code == 200 and "Served by another compute queue" in refused.content.decode()
    )
    assert not ComputeQueue.objects.filter(name="bob-lab").exists()

    beat = {"name": "alice-gpu/7-1", "queues": ["org-alice-lab"], "capacity": {"cpus": 8}}
    response = Client().post(
        "/compute/v1/hosts/beat", beat, content_type="application/json",
        HTTP_AUTHORIZATION=f"Host {secret}",
    )  # fmt: skip
    assert response.status_code == 200
    mine = alice.get(QUEUE_PAGE).content.decode()
    assert "Organizer queue org-alice-lab (owner alice; serves" in mine
    assert "1 live host(s): compute:alice-gpu/7-1" in mine
    assert "Compute host compute:alice-gpu/7-1 (organizer queue org-alice-lab): 8 CPUs" in mine
    theirs = bob.get(QUEUE_PAGE).content.decode()
    assert "alice-lab" not in theirs and "alice-gpu" not in theirs


@pytest.mark.django_db
def test_issuing_a_new_secret_shows_it_once_and_revoking_refuses_the_hosts(
    digits: Competition,
) -> None:
    alice = _staff("alice", *ORGANIZER)
    created = alice.post(ADD, {"name": "lab", "competitions": [digits.pk]})
    [old] = SECRET.findall(created.content.decode())
    pk = ComputeQueue.objects.get(name="lab").pk
    page = alice.post(
        CHANGELIST, {"action": "issue_secret", helpers.ACTION_CHECKBOX_NAME: [pk], "index": 0}
    )
    [new] = SECRET.findall(page.content.decode())
    assert new != old and _claim(digits, old) == 403 and _claim(digits, new) == 200
    done = alice.post(
        CHANGELIST, {"action": "revoke", helpers.ACTION_CHECKBOX_NAME: [pk], "index": 0}
    )
    assert done.status_code == 302
    assert _claim(digits, new) == 403
    assert "revoked" in alice.get(CHANGELIST).content.decode()


@pytest.mark.django_db
def test_staff_who_organize_no_competition_can_give_a_queue_none(
    digits: Competition,
) -> None:
    clerk = _staff("clerk", *QUEUE_PERMS)  # may manage queues, may not change competitions
    form = clerk.get(ADD).content.decode()
    assert digits.title not in form
    refused = clerk.post(ADD, {"name": "clerk-lab", "competitions": [digits.pk]})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert not ComputeQueue.objects.exists()
    participant = Client()
    participant.force_login(UserFactory(username="pat"))
    assert participant.get(CHANGELIST).status_code == 302  # to the admin's login


@pytest.mark.django_db
@pytest.mark.parametrize("remote", [False, True])
def test_the_queue_pages_say_when_queues_take_no_effect(settings: Any, remote: bool) -> None:
    """On one machine (PODIUM_COMPUTE_REMOTE off, `./podiumctl up`) every run is taken by
    the platform's own workers: an organizer must not believe the queue routes anything."""
    settings.PODIUM_COMPUTE_REMOTE = remote
    alice = _staff("alice", *ORGANIZER)
    for url in (CHANGELIST, ADD):
        html = alice.get(url).content.decode()
        assert ("compute queues and their hosts take effect only with" in html) is not remote
