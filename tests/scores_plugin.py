"""A pytest plugin for a child pytest process (``-p scores_plugin``): before each test's
fixtures are torn down (a transactional test empties its tables then), write the scores of
every submission as JSON lines to $PODIUM_TEST_SCORES_FILE, with the path of its kept
predictions."""

from __future__ import annotations

import json
import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    path = os.environ.get("PODIUM_TEST_SCORES_FILE")
    if not path:
        return
    # Imported here: the plugin loads before Django is set up.
    from django.conf import settings

    from competitions.models import Submission

    fields = ("pk", "status", "public_score", "private_score", "predictions")
    with open(path, "a") as out:
        for row in Submission.objects.values(*fields):
            kept = row.pop("predictions")
            row["predictions_path"] = os.path.join(settings.MEDIA_ROOT, kept) if kept else None
            out.write(json.dumps(row) + "\n")
