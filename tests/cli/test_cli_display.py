"""The `podium` client's tables line up in a terminal whatever the names hold (CJK, emoji,
combining accents), and its submissions list says why a run failed."""

from __future__ import annotations

import io

import pytest
from apifixtures import Arena
from factories import MembershipFactory, SubmissionFactory
from podium_cli.main import Output, table
from podium_cli.text import display_width

from competitions.models import Submission

NAMES = ["数据科学队", "🚀🔥 rockets", "🇯🇵 日本", "équipe", "e\u0301quipe", "plain"]


def _column_starts(line: str, columns: int) -> list[int]:
    """Display columns where each cell of a table line starts (cells are separated by two
    or more spaces; no cell below holds two spaces)."""
    starts = [
        display_width(line[:i])
        for i, ch in enumerate(line)
        if ch != " " and (i == 0 or line[max(i - 2, 0) : i] == "  ")
    ]
    return starts[:columns]


def test_display_width_counts_terminal_columns() -> None:
    assert display_width("数据") == 4
    assert display_width("e\u0301") == 1  # a combining accent takes no column
    assert display_width("🚀") == 2
    assert display_width("👩‍👩‍👧") == 2  # one family emoji (joined by ZWJs)


def test_a_table_with_cjk_emoji_and_combining_names_lines_up() -> None:
    rows = [{"rank": n + 1, "team": name, "score": 0.5 + n / 100} for n, name in enumerate(NAMES)]
    buffer = io.StringIO()
    table(Output(buffer, io.StringIO()), rows, ["rank", "team", "score"], as_csv=False)
    lines = buffer.getvalue().splitlines()
    header, rule, body = lines[0], lines[1], lines[2:]
    expected = _column_starts(header, 3)
    assert len(expected) == 3
    for line in body:
        assert _column_starts(line, 3) == expected, line
    widest = max(display_width(line.split("  ")[0]) for line in lines)
    assert rule.split("  ")[0] == "-" * max(widest, len("rank"))


@pytest.mark.django_db(transaction=True)
def test_the_leaderboard_with_cjk_and_emoji_team_names_lines_up(podium, arena: Arena) -> None:
    for n, name in enumerate(NAMES[:3]):
        member = MembershipFactory(team__competition=arena.competition, team__name=name)
        SubmissionFactory(team=member.team, user=member.user, public_score=0.1 + n / 10)
    result = podium("competitions", "leaderboard", "arena", "--show")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    expected = _column_starts(lines[0], 3)
    rows = lines[2:]
    assert any("数据科学队" in line for line in rows)
    assert any("🇯🇵 日本" in line for line in rows)
    for line in rows:
        assert _column_starts(line, 3) == expected, (line, result.out)


def test_submissions_say_why_a_run_failed(podium, arena: Arena) -> None:
    failed = SubmissionFactory(
        team=arena.me.team,
        user=arena.me.user,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.MEMORY_LIMIT,
        failure_message="exceeded memory limit (8 GB)",
        public_score=None,
        private_score=None,
    )
    result = podium("competitions", "submissions", "arena")
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if line.startswith(str(failed.pk)))
    assert "failed" in row
    assert "memory_limit: Your run exceeded the memory limit (8 GB)" in row
