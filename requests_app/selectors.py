"""Reads for pages and the API, each in a fixed number of queries."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from .models import Ask, Deal, Decision, Escalation, EscalationStatus, FeatureRequest


def requests_for_rep(*, user) -> QuerySet[FeatureRequest]:
    """Requests the rep submitted or asked on, with what "My requests" shows."""
    asked = Ask.objects.filter(request=OuterRef("pk"), created_by=user)
    return (
        FeatureRequest.objects.filter(Q(created_by=user) | Exists(asked))
        .annotate(accounts_count=Count("asks__account", distinct=True))
        # One query for all latest decisions instead of one per row.
        .prefetch_related(
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by").order_by("-decided_at"),
            ),
            # One query for the open escalation state of every row.
            Prefetch(
                "escalations",
                queryset=Escalation.objects.filter(status=EscalationStatus.OPEN),
                to_attr="open_escalations",
            ),
        )
        .order_by("-created_at")
    )


def deals_for_rep(*, user) -> QuerySet[Deal]:
    """The rep's open deals with the requests attached to them."""
    return (
        Deal.objects.open()
        .filter(owner=user)
        .select_related("account")  # account name per row
        .prefetch_related(
            Prefetch("asks", queryset=Ask.objects.select_related("request"))  # requests per deal
        )
        .order_by("close_date", "name")
    )


def escalations_open() -> QuerySet[Escalation]:
    """Open escalations, most urgent first, with the request and the rep."""
    return (
        Escalation.objects.filter(status=EscalationStatus.OPEN)
        .select_related("request", "raised_by")  # title and rep per row
        .prefetch_related("deals")  # deals at stake per row
        .order_by("due_at")
    )


def requests_search(*, query: str) -> QuerySet[FeatureRequest]:
    """Requests whose title or problem contains every word of ``query``."""
    qs = FeatureRequest.objects.all()
    for word in query.split()[:10]:
        qs = qs.filter(Q(title__icontains=word) | Q(problem__icontains=word))
    return qs.order_by("-created_at")
