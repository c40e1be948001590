"""Fuzz every operation of the published OpenAPI schema against a live server: no
answer may be a server error (5xx).

Schemathesis generates requests from the schema the platform serves at /api/schema/.
They are sent with the token of a participant who has joined, to a competition with
data files and two teams' runs; path parameters are steered to real objects most of the
time (a random slug or id only ever meets a 404). The number of examples per operation
is bounded (FUZZ_EXAMPLES) so that the run takes well under two minutes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from apifixtures import Arena, make_arena
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode


@schemathesis.serializer("application/offset+octet-stream")
def _raw_bytes(ctx: Any, value: Any) -> dict[str, Any]:
    """Chunks of a resumable upload are raw bytes (uploads API)."""
    if isinstance(value, str):
        value = value.encode()
    return {"data": value if isinstance(value, bytes) else str(value).encode()}


FUZZ_EXAMPLES = int(os.environ.get("PODIUM_FUZZ_EXAMPLES", "40"))

# Figures for the terminal summary (see conftest.pytest_terminal_summary).
FUZZ_STATS: dict[str, Any] = {"requests": 0, "server_errors": 0, "by_status": {}}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fuzz_arena(transactional_db: None) -> Arena:
    arena = make_arena(slug="fuzz")
    Token.objects.get_or_create(user=arena.me.user)
    return arena


def _steer(case: Any, arena: Arena) -> None:
    """Point path parameters at real objects, chosen by the generated value itself."""
    path = case.path_parameters or {}
    if "slug" in path and not str(path["slug"]).endswith("0"):
        path["slug"] = arena.competition.slug
    if "id" in path and isinstance(path["id"], int):
        known = [
            arena.mine.pk,
            arena.theirs.pk,
            arena.train.pk,
            arena.test.pk,
            arena.solution.pk,
            path["id"],
        ]
        path["id"] = known[path["id"] % len(known)]


def _fuzz_operation(operation: Any, mode: GenerationMode, arena: Arena) -> list[str]:
    """Send FUZZ_EXAMPLES generated requests for one operation; return the 5xx ones."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any) -> None:
        _steer(case, arena)
        # POST /account/token/ may have rotated the token: always send the current one.
        token = Token.objects.get(user=arena.me.user).key
        response = case.call(headers={"Authorization": f"Token {token}"}, timeout=30)
        FUZZ_STATS["requests"] += 1
        by_status = FUZZ_STATS["by_status"]
        by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            FUZZ_STATS["server_errors"] += 1
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}\n"
                f"{case.as_curl_command()}\n{response.text[:1000]}"
            )

    try:
        send()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (no parameters, no body).
        assert mode == GenerationMode.NEGATIVE, operation.label
    return failures


def test_no_api_operation_answers_a_server_error(live_server, fuzz_arena: Arena) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz_operation(operation, mode, fuzz_arena)
    assert FUZZ_STATS["requests"] >= len(operations) * FUZZ_EXAMPLES
    assert not failures, f"{len(failures)} server errors:\n\n" + "\n\n".join(failures[:10])
