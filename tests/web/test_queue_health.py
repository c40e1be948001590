"""Queue health under the production configuration: the organizers' queue page and a
participant's waiting submission say whether any worker consumes the scoring queue, and a
plain `celery -A podium worker` (no -Q) is such a worker."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.utils import timezone
from factories import MembershipFactory, SubmissionFactory, UserFactory
from processes import process_env

from competitions.evaluation import queue
from competitions.models import Submission, WorkerHeartbeat

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "queue-health-test-secret-key-0123456789abcdef",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "PODIUM_WORKER_HEARTBEAT_SECONDS": "1",
}


def _login(base: str, username: str) -> requests.Session:
    # The server hashes as production does (the test settings' MD5 is faster but unknown there).
    User.objects.filter(username=username).update(
        password=PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    )
    session = requests.Session()
    form = session.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text[:2000]
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:2000]
    return session


@pytest.fixture
def plain_worker(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    """Start `celery -A podium worker` exactly as a newcomer would: no -Q."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> Path:
        log = tmp_path / "plain-worker.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "podium", "worker", "--concurrency", "1",
             "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=process_env(**PRODUCTION), stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        return log

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def test_queue_page_and_waiting_submission_say_whether_a_worker_consumes_the_queue(
    serve: Callable[..., object], plain_worker: Callable[[], Path]
) -> None:
    UserFactory(username="organizer", is_staff=True, is_superuser=True)
    member = MembershipFactory(user__username="alice")
    waiting = SubmissionFactory(
        team=member.team,
        user=member.user,
        status=Submission.Status.QUEUED,
        public_score=None,
        private_score=None,
        created_at=timezone.now() - dt.timedelta(minutes=3),
    )
    fresh = SubmissionFactory(
        team=member.team, status=Submission.Status.QUEUED, public_score=None, private_score=None
    )
    server = serve(env=PRODUCTION)
    staff = _login(server.url, "organizer")
    alice = _login(server.url, "alice")
    queue_page = f"{server.url}/admin/competitions/submission/?queue=waiting"

    page = staff.get(queue_page, timeout=30).text
    assert "No worker is consuming the scoring queue" in page
    status = alice.get(f"{server.url}/submissions/{waiting.pk}/status.json", timeout=30)
    assert "No worker is running submissions right now" in status.json()["queue_note"]
    html = alice.get(f"{server.url}/submissions/{waiting.pk}/", timeout=30).text
    assert "No worker is running submissions right now" in html
    # Queued for seconds only: nothing to explain yet.
    fresh_status = alice.get(f"{server.url}/submissions/{fresh.pk}/status.json", timeout=30)
    assert fresh_status.json()["queue_note"] == ""
    # Another team's submission page and status stay hidden.
    other = _login(server.url, MembershipFactory().user.username)
    assert other.get(f"{server.url}/submissions/{waiting.pk}/status.json").status_code == 404

    log = plain_worker()
    # The heartbeat thread writes its first row just after "ready." (a race on a busy machine).
    deadline = time.monotonic() + 60
    while not WorkerHeartbeat.objects.exists():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    beat = WorkerHeartbeat.objects.get()
    assert beat.queues == ["scoring"]
    page = staff.get(queue_page, timeout=30).text
    assert "1 worker(s) consuming the scoring queue" in page
    assert "No worker is consuming" not in page

    # And it really takes the queue's work (a competition without data: our fault).
    queue.enqueue(waiting.pk)
    deadline = time.monotonic() + 120
    while waiting.status == Submission.Status.QUEUED or waiting.status == "running":
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)
        waiting.refresh_from_db()
    assert f"submission {waiting.pk} claimed by" in log.read_text()
    assert waiting.failure_kind == Submission.FailureKind.PLATFORM_ERROR
    assert "the organizers have to upload it" in waiting.failure_message
