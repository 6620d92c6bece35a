"""Small formatting helpers for the product pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def person(user, fallback: str = "—") -> str:
    """A user's full name, else username; ``fallback`` when there is no user (system, deleted)."""
    if user is None or user == "":
        return fallback
    return user.get_full_name() or user.get_username()


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
