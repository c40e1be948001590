"""Accounts and transport, attacked: password guessing is locked out per account and per
address; the API throttle cannot be reset with a forged X-Forwarded-For and holds across
web processes; with HTTPS on, cookies are Secure, HSTS is sent and HTTP redirects."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
import redis
import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from factories import UserFactory

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
def test_40_failures_from_one_address_lock_that_address_for_every_account() -> None:
    UserFactory(username="innocent")
    for n in range(40):
        attempt(Client(), f"user{n}", "guess", "192.0.2.66")

    client = Client()
    assert attempt(client, "innocent", PASSWORD, "192.0.2.66").status_code == 429
    assert not logged_in(client)
    other = Client()
    attempt(other, "innocent", PASSWORD, "192.0.2.67")
    assert logged_in(other)  # the account itself is not locked


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
def redis_url(tmp_path) -> Iterator[str]:
    """A Redis server of this test's own on 127.0.0.1 (Debian's redis-server)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: apt-get install redis-server", pytrace=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                process.poll()
                assert process.returncode is None, "redis-server exited"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


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
