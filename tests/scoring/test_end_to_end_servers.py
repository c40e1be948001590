"""The walking skeleton on real servers: the end-to-end test (tests/scoring/test_end_to_end.py:
the web form, a real worker process, a real container, the leaderboard) run on PostgreSQL
with the Redis broker, in its own pytest process and home. It must pass, and the scores it
recorded must be those its kept predictions get on the solution, computed here from
scratch (the same test on the defaults, SQLite and the filesystem broker, runs in the
suite itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from servers import PostgresServer, RedisServer

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.servers]
ROOT = Path(__file__).resolve().parents[2]
E2E = (
    "tests/scoring/test_end_to_end.py"
    "::test_uploaded_image_is_scored_and_the_team_is_on_the_leaderboard"
)


def _run_e2e(home: Path, **env: str) -> tuple[float, float, Path]:
    """The end-to-end test in a pytest process of its own and home; (public, private)
    score of its submission, as the database held them, and its kept predictions
    (tests/scores_plugin.py)."""
    scores = home.with_suffix(".scores")
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_TEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "scores_plugin",
         E2E],
        cwd=ROOT, env={**child_env, "PODIUM_TEST_HOME": str(home),
                       "PODIUM_TEST_SCORES_FILE": str(scores),
                       "PYTHONPATH": str(ROOT / "tests"), **env},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    (row,) = [json.loads(line) for line in scores.read_text().splitlines()]
    assert row["status"] == "scored", row
    return row["public_score"], row["private_score"], Path(row["predictions_path"])


def _overall(public: float, private: float) -> float:
    """Accuracy over all 540 test rows, whatever the (secret, per import) split: 162 public."""
    return (public * 162 + private * 378) / 540


def test_a_submission_scores_on_postgresql_and_redis_as_its_predictions_say(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path, digits_bundle: Path
) -> None:
    redis_server.command("FLUSHALL")
    public, private, kept = _run_e2e(
        tmp_path / "pg",
        PODIUM_TEST_DATABASE_URL=postgres_server.url,
        PODIUM_TEST_BROKER_URL=redis_server.url,
    )
    # The run went through Redis: kombu declared the scoring queue there.
    assert b"scoring" in redis_server.command("SMEMBERS", "_kombu.binding.scoring")

    solution = pd.read_csv(digits_bundle / "solution.csv").set_index("id")["label"]
    predicted = pd.read_csv(kept).set_index("id")["label"]
    expected = float((predicted.loc[solution.index] == solution).mean())
    print(f"PostgreSQL+Redis {public}/{private}; from the kept predictions: {expected}")
    assert 0.5 < expected <= 1
    assert _overall(public, private) == pytest.approx(expected, abs=1e-12)
