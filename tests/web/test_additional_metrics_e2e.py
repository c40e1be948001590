"""Additional metrics end to end: a question-answering competition ranked by token F1
that shows exact match next to it. A code submission goes through the API to a real
Celery worker and a real container; both scores of its public part then appear on the
leaderboard page and the submission page that gunicorn serves with DEBUG off, as
`./podiumctl up` does, and its private ones only after the reveal."""

from __future__ import annotations

import html
import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from artifacts import code_zip
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from competitions.bundles import competition_import_bundle
from competitions.models import Submission
from scoring.metrics import get_metric

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

ROWS = 20
YAML = """slug: tinyqa
title: Tiny question answering
published: true
metric: qa_f1
additional_metrics: [qa_exact_match]
id_column: id
target_columns: [answer]
start: 2026-01-01T00:00:00Z
end: 2099-01-01T00:00:00Z
limits: {memory: 1g, cpus: 1, time: 5m}
runtime_images: [podium/python:3.11]
data:
  train: train.csv
  test: test.csv
  solution: solution.csv
  sample_submission: sample_submission.csv
"""
# Answers the paragraph: exactly right on even ids (exact match 1), the answer and two
# more words on odd ids (exact match 0, token F1 2/3). Stdlib only, as on the image.
MAIN_PY = b"""import csv
with open("/data/test/test.csv", newline="") as f, open("/output/predictions.csv", "w") as out:
    writer = csv.writer(out)
    writer.writerow(["id", "answer"])
    for row in csv.DictReader(f):
        writer.writerow([row["id"], row["context"]])
"""


def _bundle(root: Path) -> Path:
    root.mkdir()
    ids = list(range(1, ROWS + 1))
    gold = [f"answer {i}" for i in ids]
    contexts = [g if i % 2 == 0 else f"{g} and more" for i, g in zip(ids, gold, strict=True)]
    # Public and private each get both kinds of row, in different shares.
    usage = ["Public" if i <= 7 else "Private" for i in ids]
    solution = pd.DataFrame({"id": ids, "answer": [json.dumps([g]) for g in gold]})
    solution["Usage"] = usage
    solution.to_csv(root / "solution.csv", index=False)
    pd.DataFrame({"id": ids, "context": contexts}).to_csv(root / "test.csv", index=False)
    pd.DataFrame({"id": ids, "answer": ""}).to_csv(root / "sample_submission.csv", index=False)
    pd.DataFrame({"id": [100], "context": ["x"], "answer": ["x"]}).to_csv(
        root / "train.csv", index=False
    )
    (root / "competition.yaml").write_text(YAML)
    return root


def _get(url: str, cookie: str = "") -> str:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200, url
        return html.unescape(response.read().decode())


def _cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _expected(solution: pd.DataFrame, part: str, name: str) -> float:
    rows = solution[solution["Usage"] == part]
    predictions = rows["id"].map(lambda i: f"answer {i}" if i % 2 == 0 else f"answer {i} and more")
    return get_metric(name).compute(rows["answer"].to_numpy(), predictions.to_numpy())


def test_exact_match_is_shown_next_to_f1_on_the_served_pages(
    worker: Path, serve: Callable[..., object], tmp_path: Path
) -> None:
    competition, _ = competition_import_bundle(bundle_dir=_bundle(tmp_path / "tinyqa"))
    ada = User.objects.create_user("ada")
    api = APIClient()
    api.force_authenticate(ada)
    assert api.post(f"/api/v1/competitions/{competition.slug}/join/").status_code == 200
    archive = SimpleUploadedFile("code.zip", code_zip({"main.py": MAIN_PY}))
    response = api.post(
        f"/api/v1/competitions/{competition.slug}/submissions/",
        {"code": archive, "description": "echo the paragraph"},
        format="multipart",
    )
    assert response.status_code == 201, response.content.decode()[:2000]
    submission = Submission.objects.get(pk=response.json()["id"])
    deadline = time.monotonic() + 600
    while not submission.is_finished:
        assert time.monotonic() < deadline, f"still {submission.status}:\n{worker.read_text()}"
        time.sleep(1)
        submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED, submission.failure_message

    solution = pd.read_csv(tmp_path / "tinyqa" / "solution.csv")
    want = {
        (part, name): _expected(solution, part, name)
        for part in ("Public", "Private")
        for name in ("qa_f1", "qa_exact_match")
    }
    assert want[("Public", "qa_exact_match")] == pytest.approx(3 / 7)  # ids 2, 4, 6 of 1-7
    assert want[("Private", "qa_exact_match")] == pytest.approx(7 / 13)  # 8, 10, ... of 8-20
    assert want[("Public", "qa_f1")] == pytest.approx((3 + 4 * 2 / 3) / 7)
    assert submission.public_score == pytest.approx(want[("Public", "qa_f1")])
    assert submission.public_additional_scores == {
        "qa_exact_match": pytest.approx(want[("Public", "qa_exact_match")])
    }
    assert submission.private_additional_scores == {
        "qa_exact_match": pytest.approx(want[("Private", "qa_exact_match")])
    }

    server = serve(
        env={
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    base = server.url  # type: ignore[attr-defined]
    board_url = base + reverse("competitions:leaderboard", args=[competition.slug])
    f1, em = want[("Public", "qa_f1")], want[("Public", "qa_exact_match")]
    for cookie in ("", _cookie(ada)):
        board = _get(board_url, cookie)
        head = re.search(r"<thead>(.*?)</thead>", board, re.S)
        assert head is not None, board[-3000:]
        assert "Token F1" in head.group(1) and 'data-metric="qa_exact_match"' in head.group(1)
        assert re.search(r">\s*Exact match\s*</th>", head.group(1)), head.group(1)
        row = re.search(r"<td class=\"name\">ada</td>(.*?)</tr>", board, re.S)
        assert row is not None, board[-3000:]
        assert f"{f1:.5f}" in row.group(1) and f"{em:.5f}" in row.group(1), row.group(1)

    page_url = base + reverse("competitions:submission", args=[submission.pk])
    page = _get(page_url, _cookie(ada))
    shown = re.search(r'<dd data-additional="qa_exact_match">(.*?)</dd>', page, re.S)
    assert shown is not None, page[-3000:]
    assert f"{em:.5f}" in shown.group(1) and "private" not in shown.group(1)  # not revealed

    competition.private_revealed_at = timezone.now()
    competition.save(update_fields=["private_revealed_at"])
    private_em = want[("Private", "qa_exact_match")]
    shown = re.search(
        r'<dd data-additional="qa_exact_match">(.*?)</dd>', _get(page_url, _cookie(ada)), re.S
    )
    assert shown is not None
    assert f"{private_em:.5f}</span> private" in shown.group(1), shown.group(1)
    board = _get(board_url + "?kind=private")
    row = re.search(r"<td class=\"name\">ada</td>(.*?)</tr>", board, re.S)
    assert row is not None, board[-3000:]
    assert f"{private_em:.5f}" in row.group(1)
