"""No API path gives a participant another team's submissions or logs, hidden test
inputs, solution labels, or private scores before the reveal.

Besides targeted tests, one sweep walks every operation of the published OpenAPI schema
with every object id we know (ours, the rival team's, the hidden files') and checks that
no answer carries a secret.
"""

from __future__ import annotations

import json
import re

import pytest
from apifixtures import (
    SECRET_LABEL,
    SECRET_LOG,
    SECRET_PRIVATE_SCORE,
    SECRET_TEST_INPUT,
    Arena,
    token_client,
)
from django.utils import timezone
from factories import SubmissionFactory, UserFactory
from rest_framework.test import APIClient

from competitions.models import Competition

pytestmark = pytest.mark.django_db

SECRETS = [SECRET_LABEL, SECRET_LOG, SECRET_TEST_INPUT, str(SECRET_PRIVATE_SCORE)]


def body_of(response) -> str:  # type: ignore[no-untyped-def]
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def assert_no_secret(response, where: str) -> None:  # type: ignore[no-untyped-def]
    text = body_of(response)
    for secret in SECRETS:
        assert secret not in text, f"{where} leaked {secret!r}"


def schema_operations() -> list[tuple[str, str]]:
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_sweep_every_operation_with_every_known_id_leaks_no_secret(
    arena: Arena, alice: APIClient
) -> None:
    ids = [
        arena.mine.pk,
        arena.theirs.pk,
        arena.train.pk,
        arena.sample.pk,
        arena.test.pk,
        arena.solution.pk,
    ]
    operations = schema_operations()
    assert len(operations) >= 20
    calls = 0
    for method, template in operations:
        for pk in ids if "{id}" in template else [None]:
            path = template.replace("{slug}", arena.competition.slug)
            if pk is not None:
                path = path.replace("{id}", str(pk))
            path = re.sub(r"\{[a-z_]+\}", "0", path)
            # POST /account/token/ rotates alice's token: always send the current one.
            alice = token_client(arena.me.user)
            for client in (alice, APIClient()):
                response = client.generic(method, path, "{}", content_type="application/json")
                calls += 1
                assert response.status_code < 500, f"{method} {path}: {response.status_code}"
                assert_no_secret(response, f"{method} {path}")
                if pk == arena.theirs.pk and "/submissions/" in template:
                    assert response.status_code in (401, 404, 405), f"{method} {path}"
                if pk in (arena.test.pk, arena.solution.pk) and "/files/" in template:
                    expected = (404,) if method == "GET" else (401, 404, 405)
                    assert response.status_code in expected, f"{method} {path}"
    assert calls > 100
    arena.theirs.refresh_from_db()
    assert arena.theirs.status == "scored"
    assert not arena.theirs.is_selected


def test_another_teams_submission_detail_log_cancel_select_are_404(
    arena: Arena, alice: APIClient
) -> None:
    pk = arena.theirs.pk
    assert alice.get(f"/api/v1/submissions/{pk}/").status_code == 404
    assert alice.get(f"/api/v1/submissions/{pk}/log/").status_code == 404
    assert alice.post(f"/api/v1/submissions/{pk}/cancel/").status_code == 404
    assert alice.post(f"/api/v1/submissions/{pk}/select/", {"selected": True}).status_code == 404
    body = alice.get(f"/api/v1/submissions/{pk}/").json()
    assert body == {"detail": "No such submission."}


def test_submission_list_holds_only_the_own_teams_runs(arena: Arena, alice: APIClient) -> None:
    response = alice.get(f"/api/v1/competitions/{arena.competition.slug}/submissions/")
    assert [s["id"] for s in response.json()["results"]] == [arena.mine.pk]
    assert response.json()["results"][0]["private_score"] is None


def test_a_stranger_who_has_not_joined_sees_no_submissions(arena: Arena) -> None:
    client = token_client(UserFactory(username="stranger"))
    response = client.get(f"/api/v1/competitions/{arena.competition.slug}/submissions/")
    assert response.json()["results"] == []
    assert client.get(f"/api/v1/submissions/{arena.mine.pk}/").status_code == 404


def test_hidden_files_are_not_listed_and_not_downloadable(arena: Arena, alice: APIClient) -> None:
    slug = arena.competition.slug
    listed = alice.get(f"/api/v1/competitions/{slug}/files/").json()
    assert sorted(f["kind"] for f in listed) == ["sample_submission", "train"]
    for hidden in (arena.test, arena.solution):
        for client in (alice, APIClient()):
            response = client.get(f"/api/v1/competitions/{slug}/files/{hidden.pk}/download/")
            assert response.status_code == 404
            assert_no_secret(response, "download")


def test_a_file_of_another_competition_is_404_under_this_slug(
    arena: Arena, alice: APIClient
) -> None:
    other = Competition.objects.create(
        slug="other", title="Other", start=arena.competition.start, end=arena.competition.end
    )
    response = alice.get(f"/api/v1/competitions/{other.slug}/files/{arena.train.pk}/download/")
    assert response.status_code == 404


def test_own_log_is_hidden_when_the_competition_hides_logs(arena: Arena, alice: APIClient) -> None:
    response = alice.get(f"/api/v1/submissions/{arena.mine.pk}/log/")
    assert response.status_code == 403
    assert "hide the logs" in response.json()["detail"]
    assert_no_secret(response, "log")


def test_own_debug_run_log_is_shown(arena: Arena, alice: APIClient) -> None:
    debug = SubmissionFactory(
        team=arena.me.team, is_debug=True, log_tail="debug output", private_score=None
    )
    response = alice.get(f"/api/v1/submissions/{debug.pk}/log/")
    assert response.status_code == 200
    assert response.json() == {"id": debug.pk, "log": "debug output"}


def test_log_tail_visibility_shows_own_logs_but_never_another_teams(
    arena: Arena, alice: APIClient
) -> None:
    arena.competition.log_visibility = Competition.LogVisibility.TAIL
    arena.competition.save(update_fields=["log_visibility"])
    assert alice.get(f"/api/v1/submissions/{arena.mine.pk}/log/").json()["log"] == SECRET_LOG
    assert alice.get(f"/api/v1/submissions/{arena.theirs.pk}/log/").status_code == 404


def test_private_scores_hidden_everywhere_before_the_reveal(arena: Arena, alice: APIClient) -> None:
    slug = arena.competition.slug
    for path in (
        f"/api/v1/submissions/{arena.mine.pk}/",
        f"/api/v1/competitions/{slug}/submissions/",
        f"/api/v1/competitions/{slug}/leaderboard/",
        f"/api/v1/competitions/{slug}/leaderboard/?kind=private",
        f"/api/v1/competitions/{slug}/leaderboard/shakeup/",
    ):
        assert_no_secret(alice.get(path), path)
    assert alice.get(f"/api/v1/submissions/{arena.mine.pk}/").json()["private_score"] is None


def test_private_scores_shown_after_the_reveal(arena: Arena, alice: APIClient) -> None:
    arena.competition.private_revealed_at = timezone.now()
    arena.competition.save(update_fields=["private_revealed_at"])
    body = alice.get(f"/api/v1/submissions/{arena.mine.pk}/").json()
    assert body["private_score"] == pytest.approx(SECRET_PRIVATE_SCORE)
    board = alice.get(f"/api/v1/competitions/{arena.competition.slug}/leaderboard/?kind=private")
    assert board.status_code == 200
    entries = board.json()["entries"]
    assert sorted(e["team"] for e in entries) == ["them", "us"]
    assert [e["score"] for e in entries] == pytest.approx([SECRET_PRIVATE_SCORE] * 2)


def test_staff_see_hidden_files_and_every_run(arena: Arena) -> None:
    staff = token_client(UserFactory(username="organizer", is_staff=True))
    slug = arena.competition.slug
    kinds = {f["kind"] for f in staff.get(f"/api/v1/competitions/{slug}/files/").json()}
    assert kinds == {"train", "sample_submission", "test", "solution"}
    body = staff.get(f"/api/v1/submissions/{arena.theirs.pk}/").json()
    assert body["private_score"] == pytest.approx(SECRET_PRIVATE_SCORE)
    assert staff.get(f"/api/v1/submissions/{arena.theirs.pk}/log/").json()["log"] == SECRET_LOG


def test_anonymous_callers_are_401_on_everything_personal(arena: Arena) -> None:
    client = APIClient()
    slug = arena.competition.slug
    for path in (
        f"/api/v1/competitions/{slug}/submissions/",
        f"/api/v1/competitions/{slug}/team/",
        f"/api/v1/submissions/{arena.mine.pk}/",
        f"/api/v1/submissions/{arena.mine.pk}/log/",
        "/api/v1/invitations/",
        "/api/v1/account/token/",
    ):
        assert client.get(path).status_code == 401, path


def test_a_team_cannot_answer_or_cancel_another_teams_invitation(arena: Arena) -> None:
    bob = UserFactory(username="bob")
    token_client(bob).post(f"/api/v1/competitions/{arena.competition.slug}/join/")
    alice = token_client(arena.me.user)
    slug = arena.competition.slug
    invitation = alice.post(f"/api/v1/competitions/{slug}/team/invitations/", {"username": "bob"})
    assert invitation.status_code == 201, invitation.json()
    pk = invitation.json()["id"]
    mallory = token_client(arena.rival.user)
    assert mallory.post(f"/api/v1/invitations/{pk}/respond/", {"accept": True}).status_code == 404
    assert (
        mallory.post(f"/api/v1/competitions/{slug}/team/invitations/{pk}/cancel/").status_code
        == 404
    )
    assert mallory.get(f"/api/v1/competitions/{slug}/team/invitations/").json() == []
