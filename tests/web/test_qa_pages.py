"""The qa demo's pages under gunicorn with DEBUG off, as `./podiumctl up` serves them:
each role sees the runtime image and how to get started, and the rule that entries are
individual where a participant joins."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from competitions.bundles import competition_import_bundle
from competitions.services.teams import competition_join
from examples.qa.make_bundle import make_bundle


def _get(url: str, cookie: str = "") -> str:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200, url
        return response.read().decode()


def _cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def test_qa_pages_name_the_runtime_image_for_each_role(
    serve: Callable[..., object], tmp_path: Path
) -> None:
    competition, _ = competition_import_bundle(bundle_dir=make_bundle(tmp_path / "qa"))
    participant = User.objects.create_user("ada")
    competition_join(user=participant, competition=competition)
    newcomer = User.objects.create_user("grace")
    server = serve(
        env={
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    base = server.url  # type: ignore[attr-defined]
    slug = competition.slug
    overview = reverse("competitions:detail", args=[slug])
    rules = reverse("competitions:rules", args=[slug])
    for cookie in ("", _cookie(newcomer), _cookie(participant)):
        for path in (overview, rules):
            page = _get(base + path, cookie)
            assert "FROM podium/pytorch:1.13" in page, (path, cookie)
            assert "examples/baseline-pytorch-qa" in page, (path, cookie)
    # The Data and Submit pages list the runtime images code submissions run on.
    for name in ("data", "submit"):
        page = _get(base + reverse(f"competitions:{name}", args=[slug]), _cookie(participant))
        assert "podium/pytorch:1.13" in page, name
    # Where a logged-in newcomer joins: the rule against teams, before accepting.
    assert 'id="individual-entries"' in _get(base + rules, _cookie(newcomer))
    assert 'id="individual-entries"' in _get(base + overview, _cookie(newcomer))
