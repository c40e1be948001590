"""Migration 0005 gives every existing competition a secret key of its own and keeps
its split_seed, so stored splits (and a later replacement of their solution) never move."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("competitions", "0004_competition_publication")]
AFTER = [("competitions", "0005_competition_split_key")]


@pytest.mark.django_db(transaction=True)
def test_existing_competitions_get_distinct_keys_and_keep_their_seed() -> None:
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps.get_model("competitions", "Competition")
        start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        for slug, seed in (("a", 0), ("b", 17), ("c", 0)):
            old.objects.create(
                slug=slug,
                title=slug,
                start=start,
                end=start + dt.timedelta(days=1),
                target_columns=["label"],
                split_seed=seed,
            )

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps.get_model("competitions", "Competition")
        rows = {c.slug: (c.split_key, c.split_seed) for c in new.objects.all()}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    keys = [key for key, _ in rows.values()]
    assert len(set(keys)) == 3
    assert all(len(bytes.fromhex(key)) == 32 for key in keys)
    assert {slug: seed for slug, (_, seed) in rows.items()} == {"a": 0, "b": 17, "c": 0}
