"""Reads for the executive pages: the escalation queue and page, the portfolio, the audit log.

Each function fetches what its page shows in a fixed number of queries, whatever the row count.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    Exists,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from requests_app.models import (
    CLOSED_STAGES,
    OPEN_STATUSES,
    Ask,
    AuditEvent,
    Deal,
    DealStage,
    Decision,
    DecisionKind,
    Escalation,
    EscalationOutcome,
    EscalationStatus,
    FeatureRequest,
    RequestStatus,
)

from .models import RequestScore, StrategicTheme, ThemeAlignment

# Requests product has said yes to: on the roadmap or already delivered.
ACCEPTED_STATUSES = (RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS, RequestStatus.SHIPPED)
# A theme counts a request when the alignment is at least weak.
THEME_MIN_STRENGTH = 1


# ---------------------------------------------------------------------------------------------
# Quarters


def quarter_of(value: dt.date | dt.datetime | None) -> str:
    """``2026-12-15`` → ``2026-Q4``; ``None`` → ``""``."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return f"{value.year}-Q{(value.month - 1) // 3 + 1}"


def quarter_relative(label: str, today: dt.date | None = None) -> str:
    """How a quarter relates to today's: ``this quarter``, ``next quarter``, ``last quarter``,
    ``in 3 quarters``, ``2 quarters ago``; ``""`` for an empty label."""
    if not label:
        return ""
    today = today or timezone.localdate()
    year, q = label.split("-Q")
    offset = (int(year) - today.year) * 4 + int(q) - ((today.month - 1) // 3 + 1)
    if offset == 0:
        return "this quarter"
    if offset == 1:
        return "next quarter"
    if offset == -1:
        return "last quarter"
    return f"in {offset} quarters" if offset > 0 else f"{-offset} quarters ago"


def quarters_ahead(count: int = 6, today: dt.date | None = None) -> list[str]:
    """This quarter and the ``count - 1`` after it, as ``YYYY-Qn`` labels."""
    today = today or timezone.localdate()
    year, q = today.year, (today.month - 1) // 3 + 1
    labels = []
    for _ in range(count):
        labels.append(f"{year}-Q{q}")
        q += 1
        if q == 5:
            year, q = year + 1, 1
    return labels


# ---------------------------------------------------------------------------------------------
# Escalation queue


def _revenue_at_stake() -> Subquery:
    """Sum of the amounts of the escalation's deals, as a scalar subquery (a join would multiply
    rows with every other to-many relation)."""
    through = Escalation.deals.through
    total = (
        through.objects.filter(escalation_id=OuterRef("pk"))
        .order_by()
        .values("escalation_id")
        .annotate(total=Sum("deal__amount"))
        .values("total")
    )
    return Coalesce(
        Subquery(total, output_field=DecimalField(max_digits=16, decimal_places=2)),
        Value(Decimal(0)),
        output_field=DecimalField(max_digits=16, decimal_places=2),
    )


def escalations_with_figures(*, now: dt.datetime | None = None) -> QuerySet[Escalation]:
    """Escalations with ``revenue_at_stake``, ``deals_count`` and ``is_overdue`` (open and past
    the SLA due date at ``now``) annotated, and the request, rep, contested decision and resolver
    joined."""
    now = now or timezone.now()
    return Escalation.objects.select_related(
        # request title/status, rep name, contested decision and resolver per row
        "request",
        "raised_by",
        "contested_decision",
        "contested_decision__decided_by",
        "resolved_by",
    ).annotate(
        revenue_at_stake=_revenue_at_stake(),
        deals_count=Count("deals", distinct=True),
        is_overdue=Case(
            When(status=EscalationStatus.OPEN, due_at__lt=now, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    )


@dataclass
class QueueFilters:
    tab: str = "open"
    rep: int | None = None
    theme: int | None = None
    outcome: str = ""


def queue_filters_from(params) -> QueueFilters:
    """Read the queue filters from a query dict; anything unreadable is ignored, never a 500."""

    def as_int(name: str) -> int | None:
        raw = (params.get(name) or "").strip()
        return int(raw) if raw.isdigit() and len(raw) < 10 else None

    tab = "resolved" if params.get("tab") == "resolved" else "open"
    outcome = params.get("outcome", "")
    return QueueFilters(
        tab=tab,
        rep=as_int("rep"),
        theme=as_int("theme"),
        outcome=outcome if tab == "resolved" and outcome in EscalationOutcome.values else "",
    )


def escalation_queue(*, filters: QueueFilters, now: dt.datetime | None = None):
    """The queue: open escalations by SLA due date (most urgent first), or resolved ones, most
    recent first. Filters: the rep who raised it, a theme the request is aligned with (at least
    weak), and for resolved ones the outcome."""
    qs = escalations_with_figures(now=now)
    if filters.tab == "resolved":
        qs = qs.filter(status=EscalationStatus.RESOLVED).order_by("-resolved_at", "-pk")
        if filters.outcome:
            qs = qs.filter(outcome=filters.outcome)
    else:
        qs = qs.filter(status=EscalationStatus.OPEN).order_by("due_at", "pk")
    if filters.rep:
        qs = qs.filter(raised_by_id=filters.rep)
    if filters.theme:
        qs = qs.filter(
            Exists(
                ThemeAlignment.objects.filter(
                    request_id=OuterRef("request_id"),
                    theme_id=filters.theme,
                    strength__gte=THEME_MIN_STRENGTH,
                )
            )
        )
    return qs


def queue_counts(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Open, overdue and resolved escalation counts in one query."""
    now = now or timezone.now()
    return Escalation.objects.aggregate(
        open=Count("pk", filter=Q(status=EscalationStatus.OPEN)),
        overdue=Count("pk", filter=Q(status=EscalationStatus.OPEN, due_at__lt=now)),
        resolved=Count("pk", filter=Q(status=EscalationStatus.RESOLVED)),
    )


def queue_filter_options() -> dict:
    """The reps who raised escalations and the active themes, for the filter selects (2 queries)."""
    User = get_user_model()
    reps = (
        User.objects.filter(escalations_raised__isnull=False)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )
    themes = StrategicTheme.objects.filter(active=True).order_by("name")
    return {"reps": list(reps), "themes": list(themes)}


# ---------------------------------------------------------------------------------------------
# Escalation page


def rank_of(*, request_id: int, total: float | None) -> tuple[int | None, int]:
    """The request's rank among open requests by score total (1 = highest), and how many open
    requests are scored. ``None`` when it has no score. Two queries at most. A score row that was
    never computed (a new request waiting for its first recompute) does not count as scored."""
    open_scored = RequestScore.objects.filter(
        request__status__in=OPEN_STATUSES, computed_at__isnull=False
    )
    counts = open_scored.aggregate(
        scored=Count("pk"),
        above=Count("pk", filter=Q(total__gt=total or 0) & ~Q(request_id=request_id)),
    )
    if total is None:
        return None, counts["scored"]
    in_set = open_scored.filter(request_id=request_id).exists()
    scored = counts["scored"] if in_set else counts["scored"] + 1
    return counts["above"] + 1, scored


def requests_passed(*, request_id: int, total: float | None, limit: int = 10):
    """The open requests ranked above this one: the requests an acceptance would pass in the
    ranking. Returns ``(count, top rows)``; the rows have ``score`` joined and their rank."""
    if total is None:
        return 0, []
    above = (
        FeatureRequest.objects.filter(
            status__in=OPEN_STATUSES, score__total__gt=total, score__computed_at__isnull=False
        )
        .exclude(pk=request_id)
        .select_related("score")  # score per row
        .order_by("-score__total", "pk")
    )
    count = above.count()
    rows = list(above[:limit])
    for position, row in enumerate(rows, start=1):
        row.rank = position
    return count, rows


@dataclass
class EscalationCase:
    escalation: Escalation
    request: FeatureRequest
    deals: list[Deal]
    asks: list[Ask]
    accounts: list
    decision: Decision | None
    score: RequestScore | None
    explanation: dict
    alignments: list[ThemeAlignment]
    rank: int | None
    ranked_total: int
    passed_count: int
    passed: list[FeatureRequest]
    history: list[Decision] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    flags: list[dict] = field(default_factory=list)


FLAG_LABELS = {
    "single_deal": "Single deal",
    "strategic_no_demand": "Strategic, no demand",
    "escalated": "Escalated",
}
COMPONENTS = (
    ("strategic_fit", "Strategic fit"),
    ("customer_breadth", "Customer breadth"),
    ("revenue_at_stake", "Revenue at stake"),
)


def score_components(score: RequestScore | None) -> list[dict]:
    """The score's three components with their explanation (summary, weight, contribution); the
    stored component values stand in when the explanation lacks an entry."""
    if score is None:
        return []
    explained = (score.explanation or {}).get("components") or {}
    rows = []
    for key, label in COMPONENTS:
        entry = explained.get(key) or {}
        rows.append(
            {
                "key": key,
                "label": label,
                "score": entry.get("score", getattr(score, key)),
                "weight": entry.get("weight"),
                "contribution": entry.get("contribution"),
                "summary": entry.get("summary", ""),
                "detail": entry,
            }
        )
    return rows


def score_flags(score: RequestScore | None) -> list[dict]:
    """The score's flags with a label and the reason the scoring gave for each."""
    if score is None:
        return []
    reasons = (score.explanation or {}).get("flag_reasons") or {}
    return [
        {
            "name": name,
            "label": FLAG_LABELS.get(name, name.replace("_", " ").capitalize()),
            "reason": reasons.get(name, ""),
        }
        for name in score.flags or []
    ]


def scored_or_none(request: FeatureRequest) -> RequestScore | None:
    """The request's score once it has been computed at least once, else ``None``."""
    try:
        score = request.score
    except RequestScore.DoesNotExist:
        return None
    return score if score.computed_at is not None else None


def escalation_case(*, pk: int) -> EscalationCase | None:
    """Everything the escalation page shows, both cases side by side, in a fixed number of
    queries (about ten, whatever the number of deals, asks, themes or requests)."""
    escalation = (
        escalations_with_figures()
        .select_related("request__created_by", "request__score")
        .filter(pk=pk)
        .first()
    )
    if escalation is None:
        return None
    request = escalation.request
    today = timezone.localdate()
    # One query for the deals with their accounts (not one per deal).
    deals = list(escalation.deals.select_related("account", "owner").order_by("close_date", "pk"))
    for deal in deals:
        deal.quarter = quarter_of(deal.close_date)
        deal.quarter_relative = quarter_relative(deal.quarter, today)
    # One query for the evidence on the request, with accounts and deals joined.
    asks = list(
        Ask.objects.filter(request=request)
        .select_related("account", "deal", "created_by")
        .order_by("account__name", "pk")
    )
    accounts: dict[int, object] = {}
    for deal in deals:
        accounts.setdefault(deal.account_id, deal.account)
    for ask in asks:
        accounts.setdefault(ask.account_id, ask.account)
    # One query for every decision on the request, newest first (the contested one is among them).
    history = list(request.decisions.select_related("decided_by", "escalation"))
    decision = escalation.contested_decision
    if decision is None:
        decision = next(
            (
                d
                for d in history
                if d.escalation_id is None and d.decided_at <= escalation.created_at
            ),
            None,
        )
    score = scored_or_none(request)
    total = score.total if score is not None else None
    # One query for the alignments with their themes.
    alignments = list(
        ThemeAlignment.objects.filter(request=request)
        .select_related("theme")
        .order_by("-theme__active", "-theme__weight", "theme__name")
    )
    rank, ranked_total = rank_of(request_id=request.pk, total=total)
    passed_count, passed = requests_passed(request_id=request.pk, total=total)
    return EscalationCase(
        escalation=escalation,
        request=request,
        deals=deals,
        asks=asks,
        accounts=sorted(accounts.values(), key=lambda a: a.name),
        decision=decision,
        score=score,
        explanation=(score.explanation or {}) if score is not None else {},
        alignments=alignments,
        rank=rank,
        ranked_total=ranked_total,
        passed_count=passed_count,
        passed=passed,
        history=history,
        components=score_components(score),
        flags=score_flags(score),
    )


# ---------------------------------------------------------------------------------------------
# Portfolio dashboard


def _waiting_on(**request_filter) -> Exists:
    """The deal is linked by an ask to a request matching ``request_filter``."""
    return Exists(
        Ask.objects.filter(
            deal_id=OuterRef("pk"), **{f"request__{k}": v for k, v in request_filter.items()}
        )
    )


OPEN_DEAL_STAGES = [stage for stage in DealStage.values if stage not in CLOSED_STAGES]


def _waiting_asks() -> QuerySet[Ask]:
    """Asks that link an open deal to an open request."""
    return Ask.objects.filter(request__status__in=OPEN_STATUSES, deal__stage__in=OPEN_DEAL_STAGES)


def _pipeline_per_group(asks: QuerySet[Ask], group_field: str, keys) -> dict:
    """``{key: open pipeline}`` for each key of ``group_field`` and ``{"total": ...}``, in one
    query: the asks are grouped per deal (so a deal counts once) with a 0/1 column per key saying
    whether the deal waits on that key, and those rows are summed. An EXISTS per key inside the
    aggregate would run one subquery per deal and key instead."""
    marks = {
        f"k_{i}": Max(Case(When(**{group_field: key}, then=Value(1)), default=Value(0)))
        for i, key in enumerate(keys)
    }
    per_deal = asks.order_by().values("deal_id").annotate(amt=Max("deal__amount"), **marks)
    inner, params = per_deal.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = [f"SUM({quote('amt')})"] + [f"SUM({quote('amt')} * {quote(name)})" for name in marks]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM ({inner}) per_deal", params)  # noqa: S608 - only generated SQL and fixed aliases
        row = cursor.fetchone()
    amounts = [_money(value) for value in row]
    result = {key: amounts[i + 1] for i, key in enumerate(keys)}
    result["total"] = amounts[0]
    return result


def _money(value) -> Decimal:
    """A database sum as dollars and cents (SQLite returns floats, PostgreSQL decimals)."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def pipeline_by_status() -> tuple[list[dict], Decimal]:
    """Open pipeline (sum of open deal amounts) waiting on open requests, per request status, and
    the total. A deal counts once per status (and once in the total) however many requests it
    waits on. One query."""
    sums = _pipeline_per_group(_waiting_asks(), "request__status", OPEN_STATUSES)
    rows = [
        {"label": RequestStatus(status).label, "key": status, "value": sums[status]}
        for status in OPEN_STATUSES
    ]
    return rows, sums["total"]


def pipeline_by_theme() -> list[dict]:
    """Open pipeline waiting on open requests per active theme (requests aligned at least weakly),
    plus "No theme" for requests aligned with none. A deal counts once per theme. Three
    queries."""
    themes = list(StrategicTheme.objects.filter(active=True).order_by("-weight", "name"))
    themed = _waiting_asks().filter(
        request__alignments__strength__gte=THEME_MIN_STRENGTH,
        request__alignments__theme__active=True,
    )
    sums = (
        _pipeline_per_group(themed, "request__alignments__theme_id", [t.pk for t in themes])
        if themes
        else {}
    )
    aligned = ThemeAlignment.objects.filter(
        request_id=OuterRef("request_id"),
        strength__gte=THEME_MIN_STRENGTH,
        theme__active=True,
    )
    unthemed = _pipeline_per_group(_waiting_asks().filter(~Exists(aligned)), "deal_id", [])
    rows = [{"label": t.name, "key": t.pk, "value": sums[t.pk]} for t in themes]
    rows.append({"label": "No theme", "key": "none", "value": unthemed["total"]})
    return rows


def single_deal_share() -> dict:
    """How much of what product accepted (accepted, in progress, shipped) carries the single-deal
    flag now, overall and by the quarter of the accepting decision (last four quarters with any).
    Two queries."""
    overall = FeatureRequest.objects.filter(status__in=ACCEPTED_STATUSES).aggregate(
        accepted=Count("pk"),
        flagged=Count("pk", filter=Q(score__flag_single_deal=True)),
    )
    share = overall["flagged"] / overall["accepted"] if overall["accepted"] else None
    rows = (
        Decision.objects.filter(kind=DecisionKind.ACCEPT, request__status__in=ACCEPTED_STATUSES)
        .values_list("decided_at", "request_id", "request__score__flag_single_deal")
        .order_by("decided_at")
    )
    # Each request counts in the quarter of its latest acceptance.
    latest: dict[int, tuple[str, bool]] = {}
    for decided_at, request_id, flagged in rows:
        latest[request_id] = (quarter_of(decided_at), bool(flagged))
    by_quarter: dict[str, list[int]] = {}
    for quarter, flagged in latest.values():
        counts = by_quarter.setdefault(quarter, [0, 0])
        counts[0] += 1
        counts[1] += int(flagged)
    trend = [
        {"quarter": q, "accepted": a, "flagged": f, "share": f / a}
        for q, (a, f) in sorted(by_quarter.items())[-4:]
    ]
    return {
        "accepted": overall["accepted"],
        "flagged": overall["flagged"],
        "share": share,
        "trend": trend,
    }


def escalation_outcomes() -> dict:
    """Resolved escalations by outcome per quarter of resolution, and the median days from
    raising to resolving, overall and per quarter. One query (one row per resolved escalation)."""
    rows = Escalation.objects.filter(
        status=EscalationStatus.RESOLVED, resolved_at__isnull=False
    ).values_list("resolved_at", "created_at", "outcome")
    quarters: dict[str, dict] = {}
    all_days: list[float] = []
    for resolved_at, created_at, outcome in rows:
        days = (resolved_at - created_at).total_seconds() / 86400
        all_days.append(days)
        entry = quarters.setdefault(
            quarter_of(resolved_at),
            {"counts": dict.fromkeys(EscalationOutcome.values, 0), "days": []},
        )
        entry["counts"][outcome] = entry["counts"].get(outcome, 0) + 1
        entry["days"].append(days)
    per_quarter = [
        {
            "quarter": q,
            "counts": [
                {"outcome": o, "label": EscalationOutcome(o).label, "count": entry["counts"][o]}
                for o in EscalationOutcome.values
            ],
            "total": sum(entry["counts"].values()),
            "median_days": statistics.median(entry["days"]),
        }
        for q, entry in sorted(quarters.items())
    ]
    totals = {
        o: sum(q["counts"][i]["count"] for q in per_quarter)
        for i, o in enumerate(EscalationOutcome.values)
    }
    return {
        "quarters": per_quarter,
        "totals": [
            {"outcome": o, "label": EscalationOutcome(o).label, "count": totals[o]}
            for o in EscalationOutcome.values
        ],
        "resolved": len(all_days),
        "median_days": statistics.median(all_days) if all_days else None,
    }


def revenue_won_on_shipped() -> dict:
    """Closed-won deals linked by an ask to a shipped request: their summed amount and count
    (each deal once, however many shipped requests it asked for). One query."""
    won = Deal.objects.filter(stage=DealStage.CLOSED_WON)
    return won.filter(_waiting_on(status=RequestStatus.SHIPPED)).aggregate(
        amount=Coalesce(
            Sum("amount"),
            Value(Decimal(0)),
            output_field=DecimalField(max_digits=18, decimal_places=2),
        ),
        deals=Count("pk"),
    )


def portfolio() -> dict:
    """Every figure of the portfolio dashboard (eight queries)."""
    by_status, total = pipeline_by_status()
    return {
        "pipeline_by_status": by_status,
        "pipeline_total": total,
        "pipeline_by_theme": pipeline_by_theme(),
        "single_deal": single_deal_share(),
        "escalations": escalation_outcomes(),
        "revenue_won": revenue_won_on_shipped(),
    }


# ---------------------------------------------------------------------------------------------
# Audit log


@dataclass
class AuditFilters:
    actor: int | None = None
    object_type: str = ""
    object_id: str = ""
    verb: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def audit_events(*, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Audit events, newest first, with the actor joined (one query per page plus the count)."""
    qs = AuditEvent.objects.select_related("actor")  # actor name per row
    if filters.actor:
        qs = qs.filter(actor_id=filters.actor)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.verb:
        qs = qs.filter(verb=filters.verb)
    if filters.date_from:
        qs = qs.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(created_at__date__lte=filters.date_to)
    return qs.order_by("-created_at", "-pk")


def audit_filter_options() -> dict:
    """Distinct actors, object types and verbs present in the log (three queries)."""
    User = get_user_model()
    actor_ids = AuditEvent.objects.exclude(actor=None).values("actor_id").distinct()
    return {
        "actors": list(
            User.objects.filter(pk__in=actor_ids).order_by("first_name", "last_name", "username")
        ),
        "object_types": list(
            AuditEvent.objects.order_by("object_type")
            .values_list("object_type", flat=True)
            .distinct()
        ),
        "verbs": list(
            AuditEvent.objects.order_by("verb").values_list("verb", flat=True).distinct()
        ),
    }
