"""Template filters: markdown pages, human sizes and durations, scores."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import markdown as md
import nh3
from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from podium.units import format_duration, format_size

register = template.Library()


# What organizer markdown may produce: text formatting, links, images, tables, code.
# No scripts, styles, forms, frames or event handlers; links cannot be javascript: URLs.
MARKDOWN_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
MARKDOWN_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "th": {"align"},
    "td": {"align"},
    "*": {"id"},
}


@register.filter
def markdown(text: str) -> SafeString:
    """Organizer markdown (overview, rules) as HTML, sanitised with nh3 (Ammonia).

    An organizer account may be compromised or careless: raw HTML in the markdown keeps
    only harmless tags, so a <script> or an onerror= renders inert.
    """
    html = md.markdown(text or "", extensions=["extra", "sane_lists"])
    clean = nh3.clean(
        html,
        tags=MARKDOWN_TAGS,
        attributes=MARKDOWN_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 (sanitised just above)


@register.filter
def size(num_bytes: int | None) -> str:
    return format_size(num_bytes)


@register.filter
def duration(seconds: float | None) -> str:
    return format_duration(seconds)


@register.filter
def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


@register.filter
def percent_level(value: float | None) -> str:
    """A confidence level as a percentage: 0.95 -> "95%", 0.999 -> "99.9%"."""
    if value is None:
        return ""
    return f"{value * 100:.4g}%"


NOT_SIGNIFICANT = ' <abbr title="not significantly better than the next team">≈</abbr>'


def _minute(value: dt.datetime | None) -> str:
    """A time as the ``date:"Y-m-d H:i"`` filter writes it, in the current time zone."""
    if value is None:
        return ""
    t = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}"


@register.simple_tag
def leaderboard_rows(entries: Sequence[Any], team: Any, has_ci: bool, kind: str) -> SafeString:
    """The board's table rows (``<tr>`` per entry): the markup the template's loop wrote,
    cell by cell, built here in one pass because the template engine's per-cell lookups
    and the ``date`` filter cost more than reading the page. Escapes the team names."""
    mine = team.pk if team else None
    private = kind == "private"
    rows = []
    for e in entries:
        css = ' class="mine"' if mine is not None and e.team_id == mine else ""
        cells = [
            f"\n      <tr{css}>"
            f'\n        <td>{e.rank}</td><td class="name">{escape(e.team)}</td>'
            f'<td class="num">{score(e.score)}</td>'
        ]
        cells += [
            f'<td class="num" data-metric="{escape(name)}">{score(value)}</td>'
            for name, value in e.additional
        ]
        if has_ci:
            low, high = score(e.ci_low), score(e.ci_high)
            interval = "" if e.ci_low is None else f"{low} \N{EN DASH} {high}"
            same = NOT_SIGNIFICANT if e.not_significant_vs_next else ""
            cells.append(f'<td class="num">{interval}{same}</td>')
        if private:
            move = f"{e.public_rank} \N{RIGHTWARDS ARROW} {e.rank}" if e.public_rank else ""
            cells.append(f'<td class="num">{move}</td>')
        cells.append(
            f'\n        <td class="num wide">{e.submissions}</td>'
            f'<td class="wide">{_minute(e.last_submission)}</td>\n      </tr>\n    '
        )
        rows.append("".join(cells))
    return mark_safe("".join(rows))  # noqa: S308 (every text above is escaped)
