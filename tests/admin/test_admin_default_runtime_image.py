"""The admin's competition form takes a default runtime image only among the allowed ones."""

from __future__ import annotations

from typing import Any

import pytest
from factories import CompetitionFactory

from competitions.admin_forms import CompetitionAdminForm
from competitions.models import Competition, RuntimeImage

pytestmark = pytest.mark.django_db


def _form(competition: Competition, allowed: list[RuntimeImage], default: RuntimeImage):
    """The change form as the admin page posts it, with these runtime images chosen."""
    shown = CompetitionAdminForm(instance=competition)
    data: dict[str, Any] = {
        name: shown[name].value() for name in shown.fields if shown[name].value() is not None
    }
    data["runtime_images"] = [i.pk for i in allowed]
    data["default_runtime_image"] = default.pk
    return CompetitionAdminForm(data=data, instance=competition)


def test_a_default_runtime_image_must_be_an_allowed_one() -> None:
    python = RuntimeImage.objects.get_or_create(name="podium/python:3.11")[0]
    pytorch = RuntimeImage.objects.get_or_create(name="podium/pytorch:1.13")[0]
    competition = CompetitionFactory()

    refused = _form(competition, [python], pytorch)
    assert not refused.is_valid()
    assert "podium/pytorch:1.13 is not among the runtime images chosen above" in " ".join(
        refused.errors["default_runtime_image"]
    )

    accepted = _form(competition, [python, pytorch], pytorch)
    assert accepted.is_valid(), accepted.errors
    accepted.save()
    competition.refresh_from_db()
    assert competition.default_runtime_image == pytorch
