"""The leaderboard API writes its times without DRF's per-field machinery
(competitions.api._when): the same text as DRF's DateTimeField, in every zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from competitions.api import _when

TIMES = [
    dt.datetime(2026, 11, 30, 7, 5, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 30, 7, 5, tzinfo=dt.UTC),
    dt.datetime(999, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_times_are_written_as_drf_writes_them(zone: str) -> None:
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        field = serializers.DateTimeField()
        current = timezone.get_current_timezone()
        assert [_when(t, current) for t in TIMES] == [field.to_representation(t) for t in TIMES]
