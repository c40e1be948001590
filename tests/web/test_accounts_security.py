"""Accounts and transport, attacked: password guessing is locked out per account and per
address; the API throttle cannot be reset with a forged X-Forwarded-For and holds across
web processes; with HTTPS on, cookies are Secure, HSTS is sent and HTTP redirects."""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import override_settings
from factories import CompetitionFactory, MembershipFactory, UserFactory
from servers import RedisServer

from competitions.models import TeamInvitation
from podium import throttling
from podium.clients import AnonThrottle

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "test-secret-key-for-the-production-configuration-0123456789",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
}


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def attempt(client: Client, username: str, password: str, address: str):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_40_wrong_passwords_lock_the_account_even_from_new_addresses() -> None:
    UserFactory(username="victim")
    assert settings.AXES_FAILURE_LIMIT == 40
    # Each guess from an address of its own: only the per-account count can stop this.
    for n in range(39):
        response = attempt(Client(), "victim", f"guess{n}", f"203.0.113.{n + 1}")
        assert response.status_code == 200  # the form again, "enter a correct username..."
    locked = attempt(Client(), "victim", "guess39", "203.0.113.100")
    assert locked.status_code == 429

    client = Client()
    response = attempt(client, "victim", PASSWORD, "198.51.100.1")

    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed logins" in text and "even with the right password" in text
    assert "0:15:00" in text  # how long the lock lasts
    assert not logged_in(client)


@pytest.mark.django_db
def test_a_guesser_at_a_shared_address_does_not_lock_out_another_user_there() -> None:
    """Behind one NAT: 60 failures over many accounts (more than the per-account limit)
    lock none but the guessed accounts; the address ceiling is far above that."""
    UserFactory(username="innocent")
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    assert throttling.configured_rate("PODIUM_LOGIN_ADDRESS_FAILURES").limit >= 400
    for n in range(60):
        assert attempt(Client(), f"user{n % 3}", "guess", "192.0.2.66").status_code == 200

    client = Client()
    attempt(client, "innocent", PASSWORD, "192.0.2.66")
    assert logged_in(client)


@pytest.mark.django_db
@override_settings(PODIUM_LOGIN_ADDRESS_FAILURES="45/hour")
def test_failed_logins_from_one_address_stop_at_its_ceiling_for_every_account() -> None:
    UserFactory(username="innocent")
    for n in range(45):  # one guess per account: no account reaches its own limit
        assert attempt(Client(), f"user{n}", "guess", "192.0.2.66").status_code == 200

    client = Client()
    refused = attempt(client, "innocent", PASSWORD, "192.0.2.66")
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "Too many failed logins from your address (at most 45 per 1 h" in text
    assert 'value="innocent"' in text  # the form comes back as typed
    assert not logged_in(client)
    # A forged X-Forwarded-For is no other address (no trusted proxy by default).
    forged = Client().post(
        LOGIN,
        {"username": "innocent", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.66",
        HTTP_X_FORWARDED_FOR="203.0.113.77",
    )
    assert forged.status_code == 429
    other = Client()
    attempt(other, "innocent", PASSWORD, "192.0.2.67")
    assert logged_in(other)  # the account itself is not locked


def sign_up(username: str, address: str, **headers: str):
    password = "Analytical-Engine-1843"
    return Client().post(
        "/accounts/signup/",
        {
            "username": username,
            "email": f"{username[:40]}@example.org",
            "password1": password,
            "password2": password,
        },
        REMOTE_ADDR=address,
        **headers,
    )


@pytest.mark.django_db
@override_settings(PODIUM_SIGNUP_RATE="3/hour")
def test_sign_ups_are_limited_per_address_and_keep_what_was_typed() -> None:
    assert sign_up("first", "192.0.2.5").status_code == 302
    assert sign_up("x" * 200, "192.0.2.5").status_code == 200  # invalid: counts too
    assert sign_up("second", "192.0.2.5").status_code == 302

    refused = sign_up("third", "192.0.2.5", HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert refused.status_code == 429
    text = refused.content.decode()
    assert "Too many sign-ups from your address (at most 3 per 1 h)" in text
    assert re.search(r"Try again in (1 h|59 min \d+ s)\b", text)
    assert 'value="third"' in text and 'value="third@example.org"' in text
    assert not User.objects.filter(username="third").exists()
    assert sign_up("third", "192.0.2.6").status_code == 302
    assert User.objects.filter(username="third").exists()


@pytest.mark.django_db
@override_settings(PODIUM_INVITATION_RATE="2/day")
def test_invitations_sent_per_user_are_limited_per_day() -> None:
    competition = CompetitionFactory(slug="arena", max_team_size=10)
    alice = MembershipFactory(team__competition=competition, user__username="alice").user
    for name in ("bob", "carol", "dave"):
        MembershipFactory(team__competition=competition, user__username=name)
    client = Client()
    client.force_login(alice)

    def invite(username: str) -> str:
        response = client.post("/c/arena/team/invite/", {"username": username}, follow=True)
        return " ".join(str(m) for m in response.context["messages"])

    assert "bob is invited" in invite("bob")
    assert "carol is invited" in invite("carol")
    refused = invite("dave")

    assert "You have sent the most invitations one person may send (2 per 24 h)" in refused
    assert re.search(r"Try again in (24 h|23 h 59 min)\b", refused)
    invited = TeamInvitation.objects.values_list("invitee__username", flat=True)
    assert sorted(invited) == ["bob", "carol"]
    # Another member of the same team has an allowance of their own.
    bob_team_mate = MembershipFactory(team=alice.team_memberships.get().team).user
    client.force_login(bob_team_mate)
    assert "dave is invited" in invite("dave")


@pytest.mark.django_db
def test_the_lock_ends_after_the_cool_off() -> None:
    from axes.models import AccessAttempt

    UserFactory(username="victim")
    for n in range(40):
        attempt(Client(), "victim", f"guess{n}", "203.0.113.9")
    assert attempt(Client(), "victim", PASSWORD, "203.0.113.10").status_code == 429

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.first().attempt_time.replace(year=2000)
    )
    client = Client()
    attempt(client, "victim", PASSWORD, "203.0.113.10")
    assert logged_in(client)


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_reset_the_api_throttle(monkeypatch) -> None:
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "5/minute"})
    assert settings.PODIUM_TRUSTED_PROXIES == 0  # the default: no proxy is believed
    codes = [
        Client()
        .get(
            "/api/v1/competitions/",
            REMOTE_ADDR="192.0.2.1",
            HTTP_X_FORWARDED_FOR=f"10.9.8.{n}",
        )
        .status_code
        for n in range(8)
    ]
    assert codes == [200] * 5 + [429] * 3
    other = Client().get("/api/v1/competitions/", REMOTE_ADDR="192.0.2.2")
    assert other.status_code == 200


def test_default_cache_is_shared_between_processes() -> None:
    assert settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache")


@pytest.mark.django_db
def test_sign_up_of_a_taken_name_says_no_more_than_not_available(client: Client) -> None:
    UserFactory(username="hidden-admin")
    password = "Analytical-Engine-1843"
    response = client.post(
        "/accounts/signup/",
        {"username": "hidden-admin", "password1": password, "password2": password},
    )
    text = response.content.decode()
    assert "already exists" not in text
    assert "This username is not available (it is, or looks like, one in use)" in text
    assert User.objects.count() == 1


@pytest.mark.e2e
def test_production_server_throttles_through_one_trusted_proxy_and_enforces_https(
    serve,
) -> None:
    """gunicorn with 2 workers, DEBUG off, HTTPS behind one trusted proxy."""
    server = serve(
        "--workers", "2",
        env={
            **PRODUCTION,
            "PODIUM_HTTPS": "1",
            "PODIUM_TRUSTED_PROXIES": "1",
            "PODIUM_API_THROTTLE_ANON": "5/minute",
            "PODIUM_LOGIN_FAILURE_LIMIT": "3",
        },
    )  # fmt: skip
    https = {"X-Forwarded-Proto": "https"}

    # Plain HTTP is redirected; over HTTPS, HSTS and Secure cookies.
    plain = requests.get(server.url + LOGIN, allow_redirects=False, timeout=30)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    page = requests.get(server.url + LOGIN, headers=https, timeout=30)
    assert page.status_code == 200
    assert "max-age=31536000" in page.headers["Strict-Transport-Security"]
    assert re.search(r"csrftoken=[^;]+;.*Secure", page.headers["Set-Cookie"])

    # The proxy appends the address it saw; what the client wrote to the left is ignored.
    # Separate connections, so both gunicorn workers answer: the count is shared.
    codes = [
        requests.get(
            server.url + "/api/v1/competitions/",
            headers={**https, "X-Forwarded-For": f"10.0.0.{n}, 198.51.100.7"},
            timeout=30,
        ).status_code
        for n in range(8)
    ]
    assert codes == [200] * 5 + [429] * 3
    fresh = requests.get(
        server.url + "/api/v1/competitions/",
        headers={**https, "X-Forwarded-For": "198.51.100.8"},
        timeout=30,
    )
    assert fresh.status_code == 200

    # The login lock-out, as a browser behind the TLS proxy sees it. (The cookie is
    # Secure, so it is sent by hand over this test's plain-HTTP leg.)
    UserFactory(username="victim")
    token = requests.get(server.url + LOGIN, headers=https, timeout=30).cookies["csrftoken"]
    origin = "https://" + server.url.removeprefix("http://")

    def login(password: str) -> requests.Response:
        return requests.post(
            server.url + LOGIN,
            data={"username": "victim", "password": password, "csrfmiddlewaretoken": token},
            headers={
                **https,
                "Cookie": f"csrftoken={token}",
                "Origin": origin,
                "Referer": origin + LOGIN,
                "X-Forwarded-For": "198.51.100.9",
            },
            allow_redirects=False,
            timeout=60,
        )

    assert [login("wrong").status_code for _ in range(2)] == [200, 200]
    assert login("wrong").status_code == 429
    refused = login(PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.text
    assert "sessionid" not in refused.cookies


def _burst(url: str, count: int, threads: int, forwarded_prefix: str) -> list[int]:
    """One client process: `count` requests on `threads` threads, each on a connection of
    its own and with a forged X-Forwarded-For entry of its own; the status codes."""

    def one(n: int) -> int:
        headers = {"X-Forwarded-For": f"{forwarded_prefix}.{n % 250}, 198.51.100.7"}
        return requests.get(url, headers=headers, timeout=120).status_code

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def _flood(url: str, processes: int, per_process: int) -> Counter[int]:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        bursts = [pool.submit(_burst, url, per_process, 16, f"10.{p}.0") for p in range(processes)]
        return Counter(code for burst in bursts for code in burst.result())


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """An empty database (1) of the session's Redis (tests/servers.py): the broker tests
    use database 0 of the same server."""
    redis_server.command("-n", "1", "FLUSHDB")
    return f"redis://127.0.0.1:{redis_server.port}/1"


@pytest.mark.e2e
@pytest.mark.parametrize("counter", ["database", "redis"])
def test_concurrent_requests_from_many_processes_never_pass_the_api_throttle(
    serve, counter, request
) -> None:
    """An attack on the count itself: 4 client processes x 16 threads send 240 requests at
    once to gunicorn (3 worker processes x 4 threads) behind one trusted proxy, each with a
    forged X-Forwarded-For entry. The window (an hour, from the first request) outlasts the
    flood, so exactly the limit passes: none over it (the bound), none lost."""
    limit = 25
    env = {
        **PRODUCTION,
        "PODIUM_TRUSTED_PROXIES": "1",
        "PODIUM_API_THROTTLE_ANON": f"{limit}/hour",
    }
    if counter == "redis":
        env["PODIUM_CACHE_URL"] = request.getfixturevalue("redis_url")
    server = serve("--workers", "3", "--threads", "4", env=env)

    codes = _flood(server.url + "/api/v1/competitions/", processes=4, per_process=60)

    assert codes == {200: limit, 429: 240 - limit}
    # Another address still has its own, full allowance.
    other = requests.get(
        server.url + "/api/v1/competitions/",
        headers={"X-Forwarded-For": "198.51.100.8"},
        timeout=30,
    )
    assert other.status_code == 200
