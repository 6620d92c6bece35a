"""Small formatting helpers for the product pages."""

from __future__ import annotations

from django import template

from triage.templatetags.triage_tags import person

register = template.Library()


register.filter("person", person)  # the project's one name formatter


@register.filter
def absolute(value):
    """``-3`` → ``3``."""
    try:
        return abs(value)
    except TypeError:
        return value


@register.filter
def isoday(value) -> str:
    """An ISO date or datetime string from a stored explanation → ``Dec 15, 2026``."""
    import datetime as dt

    if not value:
        return ""
    try:
        parsed = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{parsed:%b} {parsed.day}, {parsed.year}"
