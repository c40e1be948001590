"""Template filters: markdown pages, human sizes and durations, scores."""

import markdown as md
from django import template
from django.utils.safestring import SafeString, mark_safe

from podium.units import format_duration, format_size

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    # Overview and rules are written by staff organizers in the admin, a trusted source.
    return mark_safe(md.markdown(text or "", extensions=["extra", "sane_lists"]))  # noqa: S308


@register.filter
def size(num_bytes: int | None) -> str:
    return format_size(num_bytes)


@register.filter
def duration(seconds: float | None) -> str:
    return format_duration(seconds)


@register.filter
def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"
