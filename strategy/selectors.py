"""Reads for the board and the strategy page."""

from __future__ import annotations

from django.db.models import Count, F, QuerySet

from requests_app.models import OPEN_STATUSES, FeatureRequest

from .models import StrategicTheme


def board_rows(*, statuses=OPEN_STATUSES) -> QuerySet[FeatureRequest]:
    """Requests ranked by total score (unscored last), with their score row joined."""
    return (
        FeatureRequest.objects.filter(status__in=statuses)
        .select_related("score")  # one join instead of a query per row for the score
        .annotate(accounts_count=Count("asks__account", distinct=True))
        .order_by(F("score__total").desc(nulls_last=True), "-created_at")
    )


def themes_all() -> QuerySet[StrategicTheme]:
    return StrategicTheme.objects.annotate(requests_count=Count("alignments")).order_by(
        "-active", "-weight", "name"
    )
