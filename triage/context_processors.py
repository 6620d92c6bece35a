from __future__ import annotations

from django.urls import reverse

from .roles import EXECUTIVE, PRODUCT, SALES, has_role


def navigation(request) -> dict:
    """The navigation of the signed-in user's roles, and the unread notification count."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "unread_notifications": 0}
    items: list[tuple[str, str]] = []
    if has_role(user, SALES):
        items += [
            ("New request", reverse("requests_app:request_new")),
            ("My requests", reverse("requests_app:my_requests")),
            ("My deals", reverse("requests_app:my_deals")),
        ]
    if has_role(user, PRODUCT):
        items += [
            ("Board", reverse("strategy:board")),
            ("Strategy", reverse("strategy:strategy")),
        ]
    if has_role(user, EXECUTIVE):
        items += [
            ("Escalations", reverse("strategy:escalations")),
            ("Portfolio", reverse("strategy:portfolio")),
            ("Audit log", reverse("strategy:audit")),
        ]
    if user.is_staff or user.is_superuser:
        items.append(("CRM import", reverse("requests_app:imports")))
    if user.is_staff:
        items.append(("Admin", reverse("admin:index")))
    current = request.path
    nav = [
        {"label": label, "url": url, "active": current.startswith(url)}
        for label, url in dict.fromkeys(items)
    ]
    unread = user.notifications.filter(read_at__isnull=True).count()
    return {"nav_items": nav, "unread_notifications": unread}
