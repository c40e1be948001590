"""The admin's competition form checks additional metrics as the bundle import does."""

from __future__ import annotations

from typing import Any

import pytest
from factories import CompetitionFactory

from competitions.admin_forms import CompetitionAdminForm
from competitions.models import Competition

pytestmark = pytest.mark.django_db


def _form(competition: Competition, additional: str) -> CompetitionAdminForm:
    """The change form as the admin page posts it, with `additional` typed in."""
    shown = CompetitionAdminForm(instance=competition)
    data: dict[str, Any] = {
        name: shown[name].value() for name in shown.fields if shown[name].value() is not None
    }
    data["additional_metrics"] = additional
    return CompetitionAdminForm(data=data, instance=competition)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ('["f1_macrro"]', "additional_metrics: Unknown metric 'f1_macrro'. Known metrics: "),
        ('["accuracy"]', "accuracy is the ranking metric already"),
        ('["rmse"]', "rmse reads value predictions but the ranking metric accuracy reads label"),
        ('"f1_macro"', "additional_metrics must be a list of metric names"),
    ],
)
def test_a_bad_additional_metric_is_refused_next_to_its_field(typed: str, message: str) -> None:
    competition = CompetitionFactory(metric="accuracy")
    form = _form(competition, typed)
    assert not form.is_valid()
    assert message in " ".join(form.errors["additional_metrics"]), form.errors
    competition.refresh_from_db()
    assert competition.additional_metrics == []


@pytest.mark.parametrize(("typed", "stored"), [('["f1_macro"]', ["f1_macro"]), ("", [])])
def test_additional_metrics_are_saved_from_the_form(typed: str, stored: list[str]) -> None:
    competition = CompetitionFactory(metric="accuracy", additional_metrics=["f1_weighted"])
    form = _form(competition, typed)
    assert form.is_valid(), form.errors
    form.save()
    competition.refresh_from_db()
    assert competition.additional_metrics == stored
