"""Formatting shared by every page: money, scores, statuses, dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def money(value) -> str:
    """``1250000`` → ``$1,250,000``; ``None`` → ``—``."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return "—"
    return f"${amount:,.0f}"


@register.filter
def money_short(value) -> str:
    """``1250000`` → ``$1.3M``, ``420000`` → ``$420k``."""
    if value is None or value == "":
        return "—"
    amount = float(value)
    if abs(amount) >= 1_000_000:
        return f"${amount / 1_000_000:.1f}M"
    if abs(amount) >= 1_000:
        return f"${amount / 1_000:.0f}k"
    return f"${amount:,.0f}"


@register.filter
def score(value) -> str:
    if value is None or value == "":  # "" is what a template gives for a missing score row
        return "—"
    return f"{float(value):.0f}"


@register.simple_tag
def score_bar(value, label: str = ""):
    """A thin bar for a 0-100 score, with the number for screen readers."""
    number = 0 if value is None or value == "" else max(0, min(100, round(float(value))))
    return format_html(
        '<span class="bar" role="img" aria-label="{} {} of 100">'
        '<span class="bar-fill" style="width: {}%"></span></span>',
        label,
        number,
        number,
    )


@register.simple_tag
def status_chip(obj):
    """The request's status as a coloured chip."""
    return format_html('<span class="chip chip-{}">{}</span>', obj.status, obj.get_status_display())


@register.filter
def day(value) -> str:
    """``Dec 15, 2026``."""
    if not value:
        return "—"
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return f"{value:%b} {value.day}, {value.year}"


@register.filter
def ago(value) -> str:
    """``3 days ago``, ``in 2 days``, ``today``."""
    if not value:
        return ""
    today = timezone.localdate()
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    days = (today - value).days
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days == -1:
        return "tomorrow"
    if days > 0:
        return f"{days} days ago"
    return f"in {-days} days"


@register.filter
def person(user, fallback: str = "—") -> str:
    """A user's full name, else username; ``fallback`` when there is none (system, deleted)."""
    if user is None or user == "":
        return fallback
    return user.get_full_name() or user.get_username()
