"""The organizer's admin pages under the processes `./podiumctl up` runs: gunicorn with
DEBUG off, whitenoise, MEDIA_URL None (the in-process crawl is tests/admin)."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from factories import MembershipFactory, SubmissionFactory

from competitions.bundles import competition_import_bundle


def test_change_pages_with_files_answer_under_gunicorn(
    serve: Callable[..., object], digits_bundle: Path
) -> None:
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    member = MembershipFactory(team__competition=competition)
    submission = SubmissionFactory(
        team=member.team,
        user=member.user,
        log_tail="epoch 1\n",
        predictions=ContentFile(b"id,label\n1,3\n", name="p.csv"),
    )
    staff = User.objects.create_superuser("organizer", "", "pw")
    client = Client()
    client.force_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    server = serve(
        env={
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    predictions = reverse(
        "admin:competitions_stored_file",
        kwargs={"model": "submission", "pk": submission.pk, "field": "predictions"},
    )
    pages = {
        reverse("admin:competitions_competition_change", args=[competition.pk]): b"solution.csv",
        reverse("admin:competitions_submission_change", args=[submission.pk]): predictions.encode(),
        predictions: b"id,label\n1,3\n",
        competition.get_absolute_url(): competition.title.encode(),
    }
    for path, expected in pages.items():
        request = urllib.request.Request(server.url + path, headers={"Cookie": cookie})  # type: ignore[attr-defined]
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200, path
            assert expected in response.read(), path
