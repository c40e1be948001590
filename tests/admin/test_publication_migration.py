"""Competitions that existed before drafts were introduced stay published."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("competitions", "0003_leaderboard_index")]
AFTER = [("competitions", "0004_competition_publication")]


@pytest.mark.django_db(transaction=True)
def test_existing_competitions_are_published_by_the_migration() -> None:
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        old_apps = executor.loader.project_state(BEFORE).apps
        Competition = old_apps.get_model("competitions", "Competition")
        now = timezone.now()
        old = Competition.objects.create(
            slug="old", title="Old", start=now, end=now + dt.timedelta(days=1)
        )

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new_apps = executor.loader.project_state(AFTER).apps
        migrated = new_apps.get_model("competitions", "Competition").objects.get(pk=old.pk)
        assert migrated.published_at == migrated.created_at
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(leaves)
