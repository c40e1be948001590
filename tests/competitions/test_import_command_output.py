"""`manage.py import_competition` tells the organizer whether participants see the
competition yet and, for a draft, how to publish it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from small_bundles import write_bundle

from competitions.models import Competition

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production(settings) -> None:
    settings.DEBUG = False
    settings.PODIUM_SITE_URL = "https://podium.example.org"


def _import(bundle: Path) -> str:
    out = StringIO()
    call_command("import_competition", str(bundle), stdout=out)
    return out.getvalue()


def test_a_new_competition_is_said_to_be_a_draft_with_how_to_publish(tmp_path: Path) -> None:
    text = _import(write_bundle(tmp_path / "b", slug="tiny"))

    assert "Draft: participants do not see it until it is published" in text
    assert "https://podium.example.org/c/tiny/" in text
    assert "https://podium.example.org/admin/competitions/competition/" in text
    assert "action Publish" in text and "`published: true`" in text
    # What it says is so: a participant does not find it.
    assert Client().get("/c/tiny/").status_code == 404


def test_a_published_competition_is_said_to_be_visible(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", slug="tiny")
    spec = bundle / "competition.yaml"
    spec.write_text(spec.read_text() + "published: true\n")

    text = _import(bundle)

    assert "Published: participants see it at https://podium.example.org/c/tiny/" in text
    assert "Draft" not in text
    assert Competition.objects.get(slug="tiny").is_published
    assert Client().get("/c/tiny/").status_code == 200
