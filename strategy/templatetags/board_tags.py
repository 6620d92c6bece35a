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
