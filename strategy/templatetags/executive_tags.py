"""Formatting for the executive pages."""

from __future__ import annotations

from django import template

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
    """A number of days with one decimal: ``2.25`` → ``2.3 days``; ``None`` → ``—``."""
    if value is None:
        return "—"
    number = float(value)
    return f"{number:.1f} day{'' if round(number, 1) == 1 else 's'}"


@register.filter
def person(user) -> str:
    """A user's full name, else the username; ``—`` for nobody."""
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()
