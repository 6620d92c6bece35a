"""Reads for the board, the product request page and the strategy page."""

from __future__ import annotations

import bisect
import datetime as dt
import math
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, Rank
from django.urls import reverse
from django.utils import timezone

from requests_app.models import (
    CLOSED_STAGES,
    OPEN_STATUSES,
    Ask,
    AuditEvent,
    FeatureRequest,
    RequestStatus,
    RiceImpact,
)

from .board_snapshot import LensSnapshot, lens_snapshot
from .models import RequestScore, ScoreHistory, StrategicTheme, ThemeAlignment

BOARD_PAGE_SIZE = 50

# Sort keys the board offers: key → (label, expression name on the board queryset).
BOARD_SORTS: dict[str, str] = {
    "total": "Score",
    "strategic_fit": "Strategic fit",
    "customer_breadth": "Customer breadth",
    "revenue_at_stake": "Revenue at stake",
    "rice": "RICE",
    "wsjf": "WSJF",
    "newest": "Newest",
    "oldest": "Oldest",
}
BOARD_FLAGS: dict[str, str] = {
    "single_deal": "Single deal",
    "strategic_no_demand": "Strategic, no demand",
    "escalated": "Escalated",
    "stale": "Score updating",
}


@dataclass(frozen=True)
class BoardFilters:
    """What the product manager narrowed the board to. Empty values mean "any"."""

    status: str = "open"  # "open", "all" or one RequestStatus value
    theme: int | None = None
    product_area: str = ""
    segment: str = ""
    flag: str = ""
    open_deals: bool = False
    closing_this_quarter: bool = False
    q: str = ""
    sort: str = "total"

    def status_values(self) -> tuple[str, ...]:
        if self.status == "all":
            return tuple(RequestStatus.values)
        if self.status in RequestStatus.values:
            return (self.status,)
        return tuple(OPEN_STATUSES)


def quarter_bounds(today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the calendar quarter containing ``today``."""
    first_month = 3 * ((today.month - 1) // 3) + 1
    start = dt.date(today.year, first_month, 1)
    end_month = first_month + 2
    if end_month == 12:
        end = dt.date(today.year, 12, 31)
    else:
        end = dt.date(today.year, end_month + 1, 1) - dt.timedelta(days=1)
    return start, end


def _filtered(filters: BoardFilters) -> QuerySet[FeatureRequest]:
    """The requests matching ``filters`` (no ordering, no joins beyond what filtering needs)."""
    qs = FeatureRequest.objects.filter(status__in=filters.status_values())
    if filters.product_area:
        qs = qs.filter(product_area=filters.product_area)
    if filters.theme:
        qs = qs.filter(
            Exists(
                ThemeAlignment.objects.filter(
                    request=OuterRef("pk"), theme_id=filters.theme, strength__gte=1
                )
            )
        )
    if filters.segment:
        qs = qs.filter(
            Exists(Ask.objects.filter(request=OuterRef("pk"), account__segment=filters.segment))
        )
    open_asks = Ask.objects.filter(request=OuterRef("pk"), deal__isnull=False).exclude(
        deal__stage__in=CLOSED_STAGES
    )
    if filters.open_deals:
        qs = qs.filter(Exists(open_asks))
    if filters.closing_this_quarter:
        start, end = quarter_bounds(timezone.localdate())
        qs = qs.filter(Exists(open_asks.filter(deal__close_date__range=(start, end))))
    if filters.flag == "single_deal":
        qs = qs.filter(score__flag_single_deal=True)
    elif filters.flag == "strategic_no_demand":
        qs = qs.filter(score__flag_strategic_no_demand=True)
    elif filters.flag == "escalated":
        qs = qs.filter(score__flag_escalated=True)
    elif filters.flag == "stale":
        qs = qs.filter(Q(score__stale=True) | Q(score__isnull=True))
    for word in filters.q.split()[:10]:
        qs = qs.filter(Q(title__icontains=word) | Q(problem__icontains=word))
    return qs


def _rice_expression():
    """RICE = reach · impact · confidence / effort; reach defaults to the accounts asking."""
    impact = Case(
        *(When(rice_impact=choice, then=Value(float(choice))) for choice in RiceImpact.values),
        default=None,
        output_field=FloatField(),
    )
    reach = Cast(Coalesce(F("rice_reach"), F("score__accounts_count")), FloatField())
    return (
        reach
        * impact
        * Cast(F("rice_confidence"), FloatField())
        / Value(100.0)
        / Cast(F("rice_effort_months"), FloatField())
    )


def _wsjf_expression():
    """WSJF = (business value + time criticality + risk reduction) / job size."""
    return Cast(
        F("wsjf_business_value") + F("wsjf_time_criticality") + F("wsjf_risk_reduction"),
        FloatField(),
    ) / Cast(F("wsjf_job_size"), FloatField())


def board_rows(filters: BoardFilters | None = None) -> QuerySet[FeatureRequest]:
    """The board: filtered requests with their score, RICE/WSJF and both lens ranks, sorted.

    Product lens = strategic fit + customer breadth; sales lens = revenue at stake. Both ranks are
    window functions over the filtered set, so "rank 3 by revenue" means among what is shown.
    Unscored requests count as 0 and sort last. One query for any number of rows.
    """
    filters = filters or BoardFilters()
    fit = Coalesce(F("score__strategic_fit"), Value(0.0))
    breadth = Coalesce(F("score__customer_breadth"), Value(0.0))
    revenue = Coalesce(F("score__revenue_at_stake"), Value(0.0))
    qs = (
        _filtered(filters)
        .select_related("score")  # one join instead of a query per row for the score
        .annotate(
            rice=_rice_expression(),
            wsjf=_wsjf_expression(),
            product_rank=Window(Rank(), order_by=(fit + breadth).desc()),
            sales_rank=Window(Rank(), order_by=revenue.desc()),
        )
    )
    sort = filters.sort if filters.sort in BOARD_SORTS else "total"
    if sort == "newest":
        order = [F("created_at").desc(), F("pk").desc()]
    elif sort == "oldest":
        order = [F("created_at").asc(), F("pk").asc()]
    elif sort in ("rice", "wsjf"):
        order = [F(sort).desc(nulls_last=True), F("score__total").desc(nulls_last=True)]
    else:
        order = [F(f"score__{sort}").desc(nulls_last=True)]
    return qs.order_by(*order, F("created_at").desc(), F("pk").desc())


def _only_status_filter(filters: BoardFilters) -> bool:
    return not (
        filters.theme
        or filters.product_area
        or filters.segment
        or filters.flag
        or filters.open_deals
        or filters.closing_this_quarter
        or filters.q.split()
    )


def _lens_values(filters: BoardFilters) -> QuerySet:
    """(request id, product lens, sales lens) of every *scored* filtered request.

    Read from the score table alone, the requests' filters applied as a semi-join. When the only
    filter is the status (the board's default), it is an anti-join on the statuses left out, which
    are few, instead of a join with every request: the difference between ~35 ms and ~150 ms at
    100,000 requests.
    """
    scores = RequestScore.objects.all()
    if _only_status_filter(filters):
        excluded = set(RequestStatus.values) - set(filters.status_values())
        if excluded:
            scores = scores.filter(
                ~Exists(
                    FeatureRequest.objects.filter(pk=OuterRef("request_id"), status__in=excluded)
                )
            )
    else:
        scores = scores.filter(request__in=_filtered(filters).order_by().values("pk"))
    return (
        scores.annotate(
            lens_product=F("strategic_fit") + F("customer_breadth"),
            # "+ 0": one sequential scan and an in-memory sort beat walking the revenue index,
            # which fetches 100,000 rows one by one in index order.
            lens_sales=F("revenue_at_stake") + Value(0.0),
        )
        .order_by()
        .values_list("request_id", "lens_product", "lens_sales")
    )


def lens_ranks(filters: BoardFilters, values: dict[int, tuple[float, float]]) -> dict:
    """Product and sales lens ranks among the filtered set for the requests in ``values``
    (request id → (product lens, sales lens); 0, 0 when unscored). ``RANK()`` semantics: 1 + how
    many filtered requests are strictly higher. One query.

    PostgreSQL: one pass that buckets every filtered score by how many of the page's values it
    exceeds (``width_bucket`` against the page's thresholds) and counts per bucket, so no sort of
    the whole set is needed. Elsewhere (SQLite): ``RANK()`` windows over the same narrow set.
    Unscored requests count as 0: they never outrank anyone.
    """
    if not values:
        return {}
    if connection.vendor == "postgresql":
        return _lens_ranks_by_buckets(filters, values)
    return _lens_ranks_by_windows(filters, values)


def _lens_ranks_by_buckets(filters: BoardFilters, values: dict) -> dict:
    inner, params = _lens_values(filters).query.sql_with_params()
    # x > v  ⇔  x ≥ nextafter(v): width_bucket counts the thresholds a value reaches.
    product_t = sorted({math.nextafter(p, math.inf) for p, _ in values.values()})
    sales_t = sorted({math.nextafter(s, math.inf) for _, s in values.values()})
    sql = (
        "SELECT width_bucket(w.lens_product, %s::float8[]), "  # noqa: S608 - ORM SQL
        "width_bucket(w.lens_sales, %s::float8[]), COUNT(*) "
        f"FROM ({inner}) w GROUP BY 1, 2"
    )
    product_counts = [0] * (len(product_t) + 1)
    sales_counts = [0] * (len(sales_t) + 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, [product_t, sales_t, *params])
        for product_bucket, sales_bucket, count in cursor.fetchall():
            product_counts[product_bucket] += count
            sales_counts[sales_bucket] += count

    def above(counts: list[int], thresholds: list[float], value: float) -> int:
        k = bisect.bisect_left(thresholds, math.nextafter(value, math.inf)) + 1
        return sum(counts[k:])

    return {
        pk: (1 + above(product_counts, product_t, p), 1 + above(sales_counts, sales_t, s))
        for pk, (p, s) in values.items()
    }


def _lens_ranks_by_windows(filters: BoardFilters, values: dict) -> dict:
    ids = list(values)
    inner, params = _lens_values(filters).query.sql_with_params()
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        "SELECT r.request_id, r.product_rank, r.sales_rank FROM ("  # noqa: S608 - ORM SQL
        "  SELECT w.request_id,"
        "    RANK() OVER (ORDER BY w.lens_product DESC) AS product_rank,"
        "    RANK() OVER (ORDER BY w.lens_sales DESC) AS sales_rank"
        f"  FROM ({inner}) w"
        f") r WHERE r.request_id IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *ids])
        ranks = {pk: (product, sales) for pk, product, sales in cursor.fetchall()}
    if len(ranks) < len(ids):
        # Unscored requests have no row to rank: 1 + how many are above 0.
        above = _lens_values(filters).aggregate(
            product=Count("pk", filter=Q(lens_product__gt=0)),
            sales=Count("pk", filter=Q(lens_sales__gt=0)),
        )
        for pk in ids:
            ranks.setdefault(pk, (above["product"] + 1, above["sales"] + 1))
    return ranks


def _lens_of(row: FeatureRequest) -> tuple[float, float]:
    score = getattr(row, "score", None)
    if score is None:
        return 0.0, 0.0
    return score.strategic_fit + score.customer_breadth, score.revenue_at_stake + 0.0


class BoardRows:
    """The board's rows as a sliceable sequence for ``Paginator``, fetched page by page.

    Scored requests come first, read through the score table's indexes (an inner join ordered by
    an indexed column, so the first page stops after 50 rows); unscored requests, when any, follow
    in age order. Per page: the count, the scored rows, (only past the scored ones) the count of
    scored rows and the unscored rows, and the lens ranks: at most five queries at any data size.
    When only the status narrows the board, the count and the ranks come from the population's
    snapshot (``board_snapshot``) instead: one cheap read while it is current.
    """

    def __init__(self, filters: BoardFilters):
        self.filters = filters
        self._count: int | None = None
        self._scored_count: int | None = None
        self._snapshot: LensSnapshot | None = None
        self._snapshot_read = False

    def snapshot(self) -> LensSnapshot | None:
        """The population snapshot when only the status narrows the board (the usual view)."""
        if not self._snapshot_read:
            self._snapshot_read = True
            if _only_status_filter(self.filters):
                self._snapshot = lens_snapshot(self.filters.status)
        return self._snapshot

    def count(self) -> int:
        if self._count is None:
            snapshot = self.snapshot()
            # The count needs neither the ordering, the annotations nor the windows.
            self._count = snapshot.count if snapshot else _filtered(self.filters).count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def _ordered(self, qs: QuerySet, *, scored: bool) -> QuerySet:
        sort = self.filters.sort if self.filters.sort in BOARD_SORTS else "total"
        if sort == "newest":
            order = [F("created_at").desc(), F("pk").desc()]
        elif sort == "oldest":
            order = [F("created_at").asc(), F("pk").asc()]
        elif not scored:
            order = [F("created_at").desc(), F("pk").desc()]
        elif sort in ("rice", "wsjf"):
            order = [F(sort).desc(nulls_last=True), F("score__total").desc()]
        else:
            # Score columns are NOT NULL: a plain DESC matches their descending indexes.
            order = [F(f"score__{sort}").desc()]
        return qs.order_by(*order, F("created_at").desc(), F("pk").desc())

    def _rows(self, qs: QuerySet) -> QuerySet:
        return (
            qs.select_related("score")  # the score in the same query, not per row
            # A row shows one sentence of the explanation, not the whole document.
            .defer("score__explanation")
            .annotate(
                rice=_rice_expression(),
                wsjf=_wsjf_expression(),
                single_deal_reason=KeyTextTransform(
                    "single_deal", KeyTransform("flag_reasons", "score__explanation")
                ),
            )
        )

    def __getitem__(self, window: slice) -> list[FeatureRequest]:
        start, stop = window.start or 0, window.stop
        filtered = _filtered(self.filters)
        if self.filters.sort in ("newest", "oldest"):
            rows = list(self._ordered(self._rows(filtered), scored=True)[start:stop])
        else:
            scored = self._ordered(self._rows(filtered.filter(score__isnull=False)), scored=True)
            rows = list(scored[start:stop])
            if len(rows) < stop - start:
                if self._scored_count is None:
                    self._scored_count = (
                        start + len(rows) if rows else filtered.filter(score__isnull=False).count()
                    )
                unscored = self._ordered(
                    self._rows(filtered.filter(score__isnull=True)), scored=False
                )
                offset = max(0, start - self._scored_count)
                rows += list(unscored[offset : offset + (stop - start - len(rows))])
        snapshot = self.snapshot()
        if snapshot is not None:
            ranks = {row.pk: snapshot.ranks(*_lens_of(row)) for row in rows}
        else:
            ranks = lens_ranks(self.filters, {row.pk: _lens_of(row) for row in rows})
        # Reverse each route once per page, not three times per row.
        triage_url = reverse("strategy:request_triage", args=[0])
        why_url = reverse("strategy:request_why", args=[0])
        for row in rows:
            row.triage_url = triage_url.replace("/0/", f"/{row.pk}/")
            row.why_url = why_url.replace("/0/", f"/{row.pk}/")
            row.product_rank, row.sales_rank = ranks.get(row.pk, (0, 0))
            row.lens_gap = row.sales_rank - row.product_rank
        return rows


def board_page(filters: BoardFilters | None = None, page: int | str | None = 1) -> Page:
    """One page of the board (``BOARD_PAGE_SIZE`` rows) with lens ranks; see :class:`BoardRows`."""
    paginator = Paginator(BoardRows(filters or BoardFilters()), BOARD_PAGE_SIZE)
    return paginator.get_page(page)


def board_matrix_rows(filters: BoardFilters | None = None, limit: int = 300) -> list:
    """The top ``limit`` requests of the filtered board by total, for the matrix chart."""
    filters = filters or BoardFilters(sort="total")
    return list(
        _filtered(filters)
        .select_related("score")  # the score of every bubble in the same query
        .order_by(F("score__total").desc(nulls_last=True), "-pk")[:limit]
    )


def request_for_product(*, pk: int) -> FeatureRequest:
    """One request with what the product page shows (score, submitter, duplicate target)."""
    return (
        FeatureRequest.objects.select_related("score", "created_by", "merged_into")
        .prefetch_related("merged_requests")  # duplicates merged into it, one query
        .get(pk=pk)
    )


def request_alignments(*, request: FeatureRequest) -> list[tuple[StrategicTheme, int]]:
    """Every theme (active first) with this request's strength on it (0 when not aligned)."""
    strengths = dict(
        ThemeAlignment.objects.filter(request=request).values_list("theme_id", "strength")
    )
    return [(theme, strengths.get(theme.pk, 0)) for theme in StrategicTheme.objects.all()]


def request_history(*, request: FeatureRequest, limit: int = 60) -> list[ScoreHistory]:
    """The latest ``limit`` score history points, oldest first."""
    rows = list(
        ScoreHistory.objects.filter(request=request).order_by("-recorded_at", "-pk")[:limit]
    )
    rows.reverse()
    return rows


def request_audit_trail(*, request: FeatureRequest, limit: int = 100) -> QuerySet[AuditEvent]:
    """Audit events about the request itself and about the asks recorded on it."""
    return (
        AuditEvent.objects.filter(
            Q(object_type="requests_app.featurerequest", object_id=str(request.pk))
            | Q(object_type="requests_app.ask", after__request=request.pk)
        )
        .select_related("actor")  # actor name per row
        .order_by("-created_at", "-pk")[:limit]
    )


def stale_scores_count() -> int:
    """How many scores are waiting for a recompute (progress after a policy or theme change)."""
    return RequestScore.objects.filter(stale=True).count()


def themes_all() -> QuerySet[StrategicTheme]:
    return StrategicTheme.objects.annotate(
        requests_count=Count("alignments", filter=Q(alignments__strength__gte=1))
    ).order_by("-active", "-weight", "name")
