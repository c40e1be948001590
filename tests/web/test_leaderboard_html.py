"""The leaderboard's rows are built in Python (competitions.templatetags.podium
.leaderboard_rows) for speed: they must be the very markup the template's loop wrote."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.template import Context, Template

from competitions.leaderboards import LeaderboardEntry
from competitions.models import Team

# The template's loop before the rows were built in Python, kept here as the reference.
TEMPLATE_LOOP = (
    "{% load podium %}{% for e in entries %}\n"
    '      <tr{% if team and e.team_id == team.pk %} class="mine"{% endif %}>\n'
    '        <td>{{ e.rank }}</td><td class="name">{{ e.team }}</td><td class="num">'
    "{{ e.score|score }}</td>{% for name, value in e.additional %}"
    '<td class="num" data-metric="{{ name }}">{{ value|score }}</td>{% endfor %}'
    '{% if has_ci %}<td class="num">{% if e.ci_low is not None %}{{ e.ci_low|score }} \N{EN DASH} '
    "{{ e.ci_high|score }}{% endif %}{% if e.not_significant_vs_next %} "
    '<abbr title="not significantly better than the next team">≈</abbr>{% endif %}</td>'
    '{% endif %}{% if kind == "private" %}<td class="num">{% if e.public_rank %}'
    "{{ e.public_rank }} → {{ e.rank }}{% endif %}</td>{% endif %}\n"
    '        <td class="num wide">{{ e.submissions }}</td><td class="wide">'
    '{{ e.last_submission|date:"Y-m-d H:i" }}</td>\n'
    "      </tr>\n"
    "    {% endfor %}"
)
TAG = "{% load podium %}{% leaderboard_rows entries team has_ci kind %}"

NAMES = ["<b>bold</b> & \"quoted\" 'team'", "plain", "ünïcødé", "=1+2", "<script>x</script>"]


def entries() -> list[LeaderboardEntry]:
    when = [
        None,
        dt.datetime(2026, 11, 30, 7, 5, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(999, 1, 2, 3, 4, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    ]
    rows = []
    for i, (name, last, ci, same, public) in enumerate(
        itertools.product(NAMES, when, [None, (0.25, 0.75)], [False, True], [None, 1, 250])
    ):
        rows.append(
            LeaderboardEntry(
                rank=i + 1,
                team_id=i % 7,
                team=name,
                score=1 / (i + 3),
                submissions=i * 37,
                last_submission=last,
                submission_id=1000 + i,
                ci_low=None if ci is None else ci[0],
                ci_high=None if ci is None else ci[1],
                not_significant_vs_next=same,
                public_rank=public,
                additional=(("qa_exact_match", None if i % 3 else i / 7), ('m"<x>', 0.5)),
            )
        )
    return rows


@pytest.mark.parametrize("kind", ["public", "private"])
@pytest.mark.parametrize("has_ci", [False, True])
@pytest.mark.parametrize("team", [None, Team(pk=3, name="mine")])
def test_rows_are_the_templates_markup(kind: str, has_ci: bool, team: Team | None) -> None:
    context = {"entries": entries(), "team": team, "has_ci": has_ci, "kind": kind}
    expected = Template(TEMPLATE_LOOP).render(Context(context))
    got = Template(TAG).render(Context(context))
    assert "&lt;script&gt;" in got and "<script>" not in got  # names are escaped
    assert got == expected
