"""Formatting for the executive pages."""

from __future__ import annotations

from django import template

from requests_app.models import DECISION_STATUS, RequestStatus
from triage.templatetags.triage_tags import person

register = template.Library()


@register.filter
def pct(value, digits: int = 0) -> str:
    """A 0-1 share as a percentage: ``0.425`` → ``43%``; ``None`` → ``—``."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value) * 100:.{int(digits)}f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def days(value) -> str:
    """A duration in days, readable: ``2.25`` → ``2.3 days``, ``0.25`` → ``6 hours``,
    ``0.01`` → ``under an hour``; ``None`` → ``—``."""
    if value is None:
        return "—"
    number = float(value)
    if number < 1:
        hours = round(number * 24)
        if hours < 1:
            return "under an hour"
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return f"{number:.1f} day{'' if round(number, 1) == 1 else 's'}"


register.filter("person", person)  # the project's one name formatter


@register.filter
def decided(kind: str) -> str:
    """A decision kind as its outcome: ``decline`` → ``Declined``, ``accept`` → ``Accepted``."""
    try:
        return RequestStatus(DECISION_STATUS[kind]).label
    except (KeyError, ValueError):
        return str(kind).replace("_", " ").capitalize()
