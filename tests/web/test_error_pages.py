"""Error pages under the production configuration (DEBUG off), as an anonymous visitor and
as a participant: each says what happened and whose side it is on, and links home."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from factories import UserFactory

pytestmark = pytest.mark.django_db


def _deny(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug on the platform's side")


# The project's own URLs, plus two views that fail the way a real one can.
urlpatterns = [
    path("test-errors/403/", _deny),
    path("test-errors/500/", _boom),
    path("", include("podium.urls")),
]


@pytest.fixture(autouse=True)
def _production(settings) -> None:
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__


def _page(response) -> str:
    assert response["Content-Type"].startswith("text/html")
    text = response.content.decode()
    assert 'id="error-page"' in text and 'rel="stylesheet"' in text
    return text


def test_404_names_the_address_and_links_home() -> None:
    response = Client().get("/c/no-such-competition/")
    assert response.status_code == 404
    text = _page(response)
    assert "Page not found (404)" in text and "/c/no-such-competition/" in text
    assert "Back to the competitions</a>" in text


def test_403_says_who_may_not_and_links_home(client: Client) -> None:
    text = _page(response := Client().get("/test-errors/403/"))
    assert response.status_code == 403 and "Not allowed (403)" in text
    assert "not signed in" in text and "Log in" in text
    client.force_login(UserFactory(username="ada"))
    signed_in = _page(client.get("/test-errors/403/"))
    assert "signed in as ada" in signed_in


def test_a_form_sent_without_its_token_is_explained() -> None:
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    assert response.status_code == 403
    text = _page(response)
    assert "The form could not be sent (403)" in text and "Nothing was changed" in text


def test_400_for_a_request_to_another_host_name() -> None:
    response = Client(HTTP_HOST="evil.example").get("/")
    assert response.status_code == 400
    text = _page(response)
    assert "Bad request (400)" in text and "Back to the competitions" in text


def test_500_is_styled_says_it_is_ours_and_needs_no_database() -> None:
    response = Client(raise_request_exception=False).get("/test-errors/500/")
    assert response.status_code == 500
    text = _page(response)
    assert "Server error (500)" in text and "on our side" in text
    assert "a bug on the platform" not in text  # no traceback or message leaks out
    # Django renders it without a request; it must not touch the database either.
    with CaptureQueriesContext(connection) as queries:
        alone = loader.get_template("500.html").render()
    assert len(queries) == 0 and 'href="/">Back to the home page' in alone
