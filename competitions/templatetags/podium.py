"""Template filters: markdown pages, human sizes and durations, scores."""

import markdown as md
import nh3
from django import template
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
