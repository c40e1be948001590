"""Numbers a client sends (page and page_size, ids in paths, upload headers and fields)
never make a 500: a bad one is a 400 that names it, or a sensible default on a page.
Crawled as anonymous and as a participant with DEBUG off (the production pages)."""

from __future__ import annotations

import base64

import pytest
from django.core.cache import cache
from django.test import Client

from competitions.models import Competition
from podium import numbers
from podium.errors import ApplicationError
from uploads.models import Upload
from uploads.services import upload_request_length_check

BAD = ["²", "١٢", "-1", "1e9", "9" * 40, "", " 1", "1_0", "+1"]
HUGE = "9" * 40


@pytest.fixture
def production(settings) -> None:
    settings.DEBUG = False
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    cache.clear()


def _client(world, role: str) -> Client:
    client = world.client(role)
    client.raise_request_exception = False  # a 500 is answered, as in production
    return client


def _query_urls(value: str) -> list[str]:
    return [
        f"/c/digits/?page={value}",
        f"/c/digits/leaderboard/?page={value}",
        f"/c/digits/leaderboard/?kind=private&page={value}",
        f"/c/digits/submissions/?page={value}",
        f"/api/v1/competitions/?page={value}",
        f"/api/v1/competitions/?page_size={value}",
        f"/api/v1/competitions/digits/leaderboard/?page={value}",
        f"/api/v1/competitions/digits/leaderboard/?page_size={value}",
        f"/api/v1/competitions/digits/submissions/?page={value}&page_size={value}",
        f"/api/v1/invitations/?competition={value}",
    ]


PATH_URLS = [
    f"/submissions/{HUGE}/",
    f"/submissions/{HUGE}/status.json",
    f"/c/digits/data/{HUGE}/",
    f"/c/digits/runtime-images/{HUGE}/image.tar",
    f"/api/v1/submissions/{HUGE}/",
    f"/api/v1/submissions/{HUGE}/log/",
    f"/api/v1/competitions/digits/files/{HUGE}/download/",
    f"/api/v1/uploads/{HUGE}/",
]
POST_PATH_URLS = [
    f"/submissions/{HUGE}/cancel/",
    f"/invitations/{HUGE}/respond/",
    f"/api/v1/submissions/{HUGE}/cancel/",
    f"/api/v1/invitations/{HUGE}/respond/",
    f"/api/v1/competitions/digits/team/merge-requests/{HUGE}/respond/",
]


@pytest.mark.parametrize("role", ["anonymous", "participant"])
def test_bad_numbers_in_queries_and_paths_never_answer_500(world, production, role) -> None:
    client = _client(world, role)
    answers: dict[str, int] = {}
    for value in BAD:
        for url in _query_urls(value):
            answers[url] = client.get(url).status_code
    for url in PATH_URLS:
        answers[url] = client.get(url).status_code
    for url in POST_PATH_URLS:
        answers[url] = client.post(url, {"accept": "true"}).status_code
    assert {url: code for url, code in answers.items() if code >= 500} == {}
    # Pages show the first page for a page number they cannot read; the API says why.
    assert answers["/c/digits/leaderboard/?page=²"] == 200
    assert answers["/c/digits/?page=²"] == 200
    assert answers[f"/c/digits/leaderboard/?page={HUGE}"] == 200
    assert answers["/api/v1/competitions/digits/leaderboard/?page=١٢"] == 400
    assert answers[f"/api/v1/competitions/digits/leaderboard/?page_size={HUGE}"] == 400


def test_a_bad_page_number_in_the_api_is_a_400_that_names_it(world, production) -> None:
    answer = _client(world, "participant").get("/api/v1/competitions/digits/leaderboard/?page=²")
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": (
            "page must be a whole number from 1 to 9223372036854775807 (ASCII digits); got '²'."
        ),
        "code": "bad_number",
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_bad_numbers_in_upload_headers_and_fields_are_400(world, production, settings) -> None:
    client = _client(world, "participant")
    competition = Competition.objects.get(slug="digits")
    tus = {"Tus-Resumable": "1.0.0"}
    before = set(Upload.objects.values_list("pk", flat=True))
    created = client.post(
        "/api/v1/uploads/",
        headers={
            **tus,
            "Upload-Length": "10",
            "Upload-Metadata": f"competition {_b64(competition.slug)},filename {_b64('a.tar')}",
        },
    )
    assert created.status_code == 201, created.content
    upload = Upload.objects.exclude(pk__in=before).get()
    for value in BAD:
        made = client.post(
            "/api/v1/uploads/",
            headers={
                **tus,
                "Upload-Length": value,
                "Upload-Metadata": f"competition {_b64(competition.slug)}",
            },
        )
        assert made.status_code == 400, (value, made.content)
        assert "Upload-Length" in made.content.decode()
        plain = client.post(
            "/api/v1/uploads/",
            {"competition": competition.slug, "filename": "a.tar", "size": value},
            content_type="application/json",
        )
        assert plain.status_code == 400, (value, plain.content)
        for header in ("Upload-Offset", "Content-Length"):
            headers = {
                **tus,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
                header: value,
            }
            sent = client.patch(f"/api/v1/uploads/{upload.pk}/", b"0123456789", headers=headers)
            assert sent.status_code in (400, 411), (header, value, sent.content)
        with pytest.raises(ApplicationError, match="Send a Content-Length header"):
            upload_request_length_check(competition=competition, content_length=value)
    upload.refresh_from_db()
    assert upload.offset == 0  # nothing was written by a bad header


def test_whole_number_takes_ascii_digits_in_range_only() -> None:
    assert numbers.whole_number("12", name="n") == 12
    assert numbers.whole_number("0", name="n") == 0
    for bad in [*BAD, "12a", "0x1", "1.0", "\n1"]:
        with pytest.raises(ApplicationError, match="n must be a whole number"):
            numbers.whole_number(bad, name="n")
    with pytest.raises(ApplicationError, match="from 1 to 5"):
        numbers.whole_number("6", name="n", minimum=1, maximum=5)
    assert [numbers.page_number(v) for v in ("3", "0", "²", "١٢", "-1", None, HUGE)] == [
        3, 1, 1, 1, 1, 1, 10**9
    ]  # fmt: skip
