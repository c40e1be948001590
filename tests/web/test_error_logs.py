"""Unhandled errors are logged with their traceback under $PODIUM_HOME/logs, by the web
server (web.log) and by the worker (worker.log), under the production configuration."""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.test import Client
from factories import MembershipFactory

from competitions.models import CompetitionFile
from competitions.services.files import competition_file_store


def _production() -> dict[str, str]:
    """What `./podiumctl up` exports; the test's secret key, so its session is valid."""
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }


def _wait_for(path: Path, marker: str, seconds: float = 60) -> str:
    """The text of `path` once it holds `marker` (a bound on waiting, not a timing check)."""
    deadline = time.monotonic() + seconds
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if marker in text:
            return text
        assert time.monotonic() < deadline, f"{marker!r} never reached {path}:\n{text[-3000:]}"
        time.sleep(0.2)


def test_a_server_error_writes_its_traceback_to_web_log(serve: Callable[..., object]) -> None:
    membership = MembershipFactory()
    competition = membership.team.competition
    # Fault: a data file vanished from storage behind the platform's back.
    name = f"vanished-{uuid.uuid4().hex}.csv"
    record = competition_file_store(
        competition=competition,
        kind=CompetitionFile.Kind.TRAIN,
        name=name,
        content=io.BytesIO(b"id\n"),
    )
    Path(record.file.path).unlink()
    client = Client()
    client.force_login(membership.user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    server = serve(env=_production())
    path = f"/c/{competition.slug}/data/{record.pk}/"
    url = server.url + path  # type: ignore[attr-defined]
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode(errors="replace")
    else:
        raise AssertionError("the download of a vanished file did not fail")
    assert status == 500
    assert "Traceback" not in body  # DEBUG is off: nothing internal reaches the user

    text = _wait_for(Path(settings.PODIUM_HOME) / "logs" / "web.log", path)
    entry = text[text.rindex(f"Internal Server Error: {path}") :]
    assert "Traceback (most recent call last)" in entry
    assert "FileNotFoundError" in entry


def test_a_task_error_writes_its_traceback_to_worker_log(worker: Path) -> None:
    from podium.celery import app

    task_id = str(uuid.uuid4())
    # Fault: a task message the task cannot take (three arguments for one).
    app.send_task("scoring.evaluate_submission", args=[1, 2, 3], queue="scoring", task_id=task_id)
    text = _wait_for(Path(settings.PODIUM_HOME) / "logs" / "worker.log", f"[{task_id}] raised")
    entry = text[text.index(f"[{task_id}] raised") :]
    assert "Traceback (most recent call last)" in entry
    assert "TypeError" in entry
