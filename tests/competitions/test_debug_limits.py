"""Debug runs have a daily limit of their own (issue 10, item 4): never counted toward
the submission limits, but no unlimited stream of runs either."""

from __future__ import annotations

import io

import pytest
from artifacts import IMAGE_TAR
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create, submission_quota
from competitions.services.teams import competition_join
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db


def _submit(user: User, competition: Competition, *, debug: bool) -> Submission:
    return submission_create(
        user=user, competition=competition, image=io.BytesIO(IMAGE_TAR), debug=debug
    )


def test_debug_runs_stop_at_their_daily_limit_and_leave_normal_runs_alone(
    digits: Competition,
) -> None:
    Competition.objects.filter(pk=digits.pk).update(debug_daily_limit=2, max_concurrent_runs=10)
    digits.refresh_from_db()
    user = User.objects.create_user(username="alice")
    team = competition_join(user=user, competition=digits)

    first = _submit(user, digits, debug=True)
    _submit(user, digits, debug=True)
    with pytest.raises(ApplicationError) as refused:
        _submit(user, digits, debug=True)

    assert refused.value.extra == {"code": "debug_daily_limit"}
    assert "all 2 of today's debug runs" in str(refused.value)
    assert Submission.objects.filter(is_debug=True).count() == 2
    quota = submission_quota(team=team)
    assert (quota["debug_used"], quota["debug_limit"], quota["debug_allowed"]) == (2, 2, False)
    assert quota["used"] == 0  # debug runs never count toward the submission limits
    _submit(user, digits, debug=False)  # a normal run is still allowed
    api = APIClient()
    api.force_authenticate(user)
    answer = api.get(f"/api/v1/competitions/{digits.slug}/team/").json()["quota"]
    assert (answer["debug_used"], answer["debug_limit"]) == (2, 2)
    web = Client()
    web.force_login(user)
    assert "2 of 2 debug runs used today" in web.get(f"/c/{digits.slug}/submit/").content.decode()

    Submission.objects.filter(pk=first.pk).update(status=Submission.Status.CANCELLED)
    _submit(user, digits, debug=True)  # a cancelled debug run gives its slot back
