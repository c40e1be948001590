"""A debug run whose predictions are valid is "checked" (validated on a public sample, not
scored against hidden labels) on every channel: its page, the API's status_display, and
each CLI view of it; the API's state machine keeps "scored", as DESIGN's states name it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from apifixtures import Arena
from conftest import Result
from django.test import Client
from factories import SubmissionFactory
from rest_framework.authtoken.models import Token

from competitions.models import Submission

Podium = Callable[..., Result]


@pytest.fixture
def debug_run(arena: Arena) -> Submission:
    return SubmissionFactory(
        team=arena.me.team, user=arena.me.user, is_debug=True, status="scored", public_score=0.5
    )


def test_a_valid_debug_run_reads_checked_everywhere(
    podium: Podium, arena: Arena, debug_run: Submission, settings
) -> None:
    settings.DEBUG = False
    page = Client()
    page.force_login(arena.me.user)
    assert ">Checked</span>" in page.get(debug_run.get_absolute_url()).content.decode()

    token = Token.objects.get_or_create(user=arena.me.user)[0].key
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    body = api.get(f"/api/v1/submissions/{debug_run.pk}/").json()
    assert (body["status"], body["status_display"]) == ("scored", "Checked")

    detail = podium("submission", debug_run.pk)
    assert detail.code == 0, detail.err
    fields = dict(line.split(None, 1) for line in detail.out.splitlines() if " " in line)
    assert fields["status:"] == "checked"

    waited = podium("submission", debug_run.pk, "--wait", "--interval", "0.1")
    assert f"submission {debug_run.pk}: checked" in waited.err

    listing = podium("competitions", "submissions", "arena")
    assert "checked (debug)" in listing.out and "scored (debug)" not in listing.out


def test_a_ranked_run_still_reads_scored(podium: Podium, arena: Arena) -> None:
    detail = podium("submission", arena.mine.pk)
    fields = dict(line.split(None, 1) for line in detail.out.splitlines() if " " in line)
    assert fields["status:"] == "scored"
