"""A multipart upload whose file name is too long for the file system (Django's
temporary file carries the name's extension) is judged like any other file: a clear
answer, never a 500. As a participant, through the API and the web form, DEBUG off."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.test import Client
from factories import MembershipFactory

from competitions.models import Submission
from podium.uploadhandlers import bounded_file_name

LONG = "a." + "x" * 300


@pytest.fixture
def member(db, settings):
    settings.DEBUG = False
    cache.clear()
    return MembershipFactory(team__competition__slug="long")


def _big_not_an_archive(settings) -> io.BytesIO:
    # Over FILE_UPLOAD_MAX_MEMORY_SIZE, so that Django writes it to a temporary file. A
    # BytesIO sends its name as it is (SimpleUploadedFile would cut it to 255 characters).
    upload = io.BytesIO(b"not an archive\n" * (settings.FILE_UPLOAD_MAX_MEMORY_SIZE // 15 + 1))
    upload.name = LONG
    return upload


def _participant(member) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(member.user)
    return client


def test_the_api_judges_a_file_with_a_300_character_extension(member, settings) -> None:
    answer = _participant(member).post(
        "/api/v1/competitions/long/submissions/", {"image": _big_not_an_archive(settings)}
    )
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "not_an_archive"
    assert Submission.objects.count() == 0


def test_the_web_form_judges_a_file_with_a_300_character_extension(member, settings) -> None:
    answer = _participant(member).post(
        "/c/long/submit/", {"image": _big_not_an_archive(settings), "description": "long"}
    )
    assert answer.status_code == 200, answer.content[:500]
    assert "docker save" in answer.content.decode()  # the form says what it expected
    assert Submission.objects.count() == 0


def test_bounded_file_name_keeps_short_suffixes_and_drops_long_ones() -> None:
    assert bounded_file_name("image.tar.gz") == "image.tar.gz"
    assert bounded_file_name("../../etc/x.zip") == "x.zip"
    assert bounded_file_name(LONG) == LONG[:100]
    assert bounded_file_name("y" * 300 + ".tar") == "y" * 96 + ".tar"
    assert bounded_file_name(".") == "upload"
