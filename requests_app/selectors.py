"""Reads for pages and the API, each in a fixed number of queries."""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from .models import (
    OPEN_STATUSES,
    Account,
    Ask,
    Deal,
    Decision,
    Escalation,
    EscalationStatus,
    FeatureRequest,
)


def requests_for_rep(*, user, status: str = "", deal_id: int | None = None) -> RepRequests:
    """Requests the rep submitted or asked on, newest first, with what "My requests" shows.

    Each row carries ``accounts_count``, ``rank`` (position among open requests by score total,
    None while unscored or closed), ``decision_list`` (newest first), ``escalation_list`` (newest
    first) and ``my_asks`` (the rep's own asks with their deals). ``status`` and ``deal_id`` (one of
    the rep's deals) narrow the list. A page costs six queries whatever the number of rows.
    """
    # "Submitted or asked on" as the union of two indexed lookups: an OR across the request and
    # its asks would test every request in the database.
    mine = (
        FeatureRequest.objects.filter(created_by=user)
        .order_by()
        .values("pk")
        .union(Ask.objects.filter(created_by=user).order_by().values("request_id"))
    )
    qs = FeatureRequest.objects.filter(pk__in=mine)
    if status:
        qs = qs.filter(status=status)
    if deal_id:
        qs = qs.filter(Exists(Ask.objects.filter(request=OuterRef("pk"), deal_id=deal_id)))
    return RepRequests(
        qs.annotate(
            accounts_count=Subquery(
                Ask.objects.filter(request=OuterRef("pk"))
                .order_by()
                .annotate(
                    n=Func(
                        F("account_id"),
                        function="COUNT",
                        template="COUNT(DISTINCT %(expressions)s)",
                    )
                )
                .values("n")[:1]
            ),
            # Read through the reverse one-to-one ``score`` written by the scoring service.
            ranked_total=Case(
                When(
                    status__in=OPEN_STATUSES,
                    score__computed_at__isnull=False,
                    then=F("score__total"),
                ),
                default=None,
            ),
        )
        .prefetch_related(
            # One query for the decisions of every row instead of one per row.
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by").order_by("-decided_at"),
                to_attr="decision_list",
            ),
            # One query for the escalation state of every row.
            Prefetch(
                "escalations",
                queryset=Escalation.objects.order_by("-created_at"),
                to_attr="escalation_list",
            ),
            # One query for the rep's own asks (and their deals) on every row.
            Prefetch(
                "asks",
                queryset=Ask.objects.filter(created_by=user).select_related("account", "deal"),
                to_attr="my_asks",
            ),
        )
        .order_by("-created_at", "-pk")
    )


class RepRequests:
    """The rows of :func:`requests_for_rep` as a sliceable sequence for ``Paginator``: each page
    gets its ranks in one query over the open requests, instead of one count per row."""

    def __init__(self, queryset: QuerySet[FeatureRequest]):
        self.queryset = queryset

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list[FeatureRequest]:
        return _with_ranks(list(self.queryset[window]))

    def __iter__(self):
        return iter(_with_ranks(list(self.queryset)))


def _with_ranks(rows: list[FeatureRequest]) -> list[FeatureRequest]:
    """Set ``rank`` on each row: 1 + how many open requests have a strictly higher total."""
    totals = sorted({r.ranked_total for r in rows if r.ranked_total is not None})
    above = {}
    if totals:
        counts = FeatureRequest.objects.filter(status__in=OPEN_STATUSES).aggregate(
            **{f"t{i}": Count("pk", filter=Q(score__total__gt=t)) for i, t in enumerate(totals)}
        )
        above = {t: counts[f"t{i}"] for i, t in enumerate(totals)}
    for row in rows:
        row.rank = None if row.ranked_total is None else above[row.ranked_total] + 1
    return rows


def open_requests_count() -> int:
    """How many requests are open: the denominator of "rank #12 of 340"."""
    return FeatureRequest.objects.filter(status__in=OPEN_STATUSES).count()


def deals_for_rep(*, user) -> QuerySet[Deal]:
    """The rep's open deals with the requests attached and what was decided for them."""
    return (
        Deal.objects.open()
        .filter(owner=user)
        .select_related("account")  # account name per row
        .prefetch_related(
            # requests per deal, and the decisions per request: two queries in all.
            Prefetch(
                "asks",
                queryset=Ask.objects.select_related("request")
                .prefetch_related(
                    Prefetch(
                        "request__decisions",
                        queryset=Decision.objects.select_related("decided_by").order_by(
                            "-decided_at"
                        ),
                        to_attr="decision_list",
                    )
                )
                .order_by("request__title"),
            )
        )
        .order_by("close_date", "name")
    )


def deals_for_rep_all(*, user) -> QuerySet[Deal]:
    """Every deal the rep owns (open first), for pickers and filters."""
    return (
        Deal.objects.filter(owner=user).select_related("account").order_by("account__name", "name")
    )


def open_deals_of_account(*, account_id: int) -> QuerySet[Deal]:
    """The open deals of one account, soonest close date first."""
    return Deal.objects.open().filter(account_id=account_id).order_by("close_date", "name")


def accounts_search(*, query: str, limit: int = 8) -> list[Account]:
    """Accounts whose name contains ``query``, names that start with it first."""
    query = query.strip()[:100]
    if not query:
        return []
    return list(
        Account.objects.filter(name__icontains=query)
        .annotate(
            starts=Case(
                When(name__istartswith=query, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("starts", "name")[:limit]
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


# --- Duplicate suggestions -------------------------------------------------------------------
#
# PostgreSQL: BM25 over the posting list of open requests that migration 0004 keeps current with
# triggers. The query's words are looked up in the term table (document frequency); the
# SUGGEST_MAX_TERMS rarest are kept (a whole pasted description still finds matches: any word may
# match, rare words weigh most). The rarest of those, within SUGGEST_MAX_POSTINGS postings, find
# the candidates; the others only add their BM25 share to the best SUGGEST_POOL candidates (title
# occurrences count three times, set in the migration). Three queries: term statistics, ranking,
# rows; a fourth (trigram match on titles) only when a short text leaves BM25 short of ``limit``.
# Other databases: word overlap computed in Python over the open requests (small installs only).

SUGGEST_MAX_TERMS = 24
SUGGEST_MAX_POSTINGS = 5_000
SUGGEST_POOL = 200
BM25_K1 = 1.2
BM25_B = 0.75
SUGGEST_MAX_CHARS = 20_000
# Pages hide matches scoring below this share of the best one.
SUGGEST_PAGE_MIN_SHARE = 0.3

_TERMS_SQL = """
SELECT t.word, t.qtf, coalesce(s.ndoc, 0)
FROM (SELECT lexeme AS word, coalesce(array_length(positions, 1), 1) AS qtf
      FROM unnest(to_tsvector('english'::regconfig, %s))) t
LEFT JOIN requests_app_searchterm s ON s.word = t.word
UNION ALL
SELECT '', ndoc, nentry FROM requests_app_searchterm WHERE word = ''
"""

_RANK_SQL = """
WITH q AS (SELECT * FROM unnest(%(words)s::text[], %(idf)s::float8[]) AS q(word, idf)),
pool AS (
    SELECT p.request_id,
           sum(q.idf * (p.tf * (%(k1)s + 1))
               / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / %(avgdl)s))) AS score
    FROM requests_app_searchposting p
    JOIN q ON q.word = p.word
    WHERE p.word = ANY(%(selective)s::text[]) AND p.request_id <> %(exclude)s
    GROUP BY p.request_id
    ORDER BY score DESC, p.request_id DESC
    LIMIT %(pool)s
)
SELECT pool.request_id,
       pool.score + coalesce((
           SELECT sum(q.idf * (p.tf * (%(k1)s + 1))
                      / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / %(avgdl)s)))
           FROM requests_app_searchposting p
           JOIN q ON q.word = p.word
           WHERE p.request_id = pool.request_id AND p.word = ANY(%(broad)s::text[])
       ), 0) AS score
FROM pool
ORDER BY score DESC, pool.request_id DESC
LIMIT %(limit)s
"""


# A title being typed ("bulk exp") has half-words that stemming cannot match; the trigram index on
# the title (migration 0004) finds those when BM25 leaves room.
_TITLE_SQL = """
SELECT id FROM requests_app_featurerequest
WHERE %(text)s <%% title AND status = ANY(%(statuses)s::text[]) AND id <> ALL(%(skip)s::bigint[])
ORDER BY word_similarity(%(text)s, title) DESC, id DESC
LIMIT %(limit)s
"""
TITLE_MATCH_MAX_CHARS = 120


def _rank_postgres(text: str, limit: int, exclude_id: int | None) -> list[tuple[int, float]]:
    ranked = _rank_bm25(text, limit, exclude_id)
    if len(ranked) < limit and len(text) <= TITLE_MATCH_MAX_CHARS:
        skip = [pk for pk, _ in ranked] + [exclude_id or 0]
        with connection.cursor() as cursor:
            cursor.execute(
                _TITLE_SQL,
                {
                    "text": text,
                    "statuses": [str(s) for s in OPEN_STATUSES],
                    "skip": skip,
                    "limit": limit - len(ranked),
                },
            )
            # Ranked after every BM25 match, with a relevance just below the weakest of them.
            floor = ranked[-1][1] if ranked else 1.0
            ranked += [(pk, floor * 0.99) for (pk,) in cursor.fetchall()]
    return ranked


def _rank_bm25(text: str, limit: int, exclude_id: int | None) -> list[tuple[int, float]]:
    with connection.cursor() as cursor:
        cursor.execute(_TERMS_SQL, [text])
        rows = cursor.fetchall()
        docs, total_length, terms = 0, 0, []
        for word, qtf, df in rows:
            if word == "":
                docs, total_length = qtf, df
            elif df > 0:
                terms.append((word, qtf, df))
        if not terms or docs <= 0:
            return []
        avgdl = max(total_length / docs, 1.0)
        weighted = []
        df_of = {word: df for word, _, df in terms}
        for word, qtf, df in terms:
            idf = math.log(1 + (docs - df + 0.5) / (df + 0.5))
            # A word repeated in the query counts more, but only logarithmically.
            weighted.append((idf * (1 + math.log(qtf)), word))
        weighted.sort(reverse=True)
        # Two passes keep the cost bounded however large the base grows. The selective words
        # (rarest first, within a budget of postings; at least the rarest one) find the
        # candidates: every request containing one, best SUGGEST_POOL kept. The broad words (the
        # rest of the SUGGEST_MAX_TERMS strongest) then add their share for those candidates
        # only, read through the postings of each candidate instead of all of theirs.
        chosen = weighted[:SUGGEST_MAX_TERMS]
        selective, broad, postings = [], [], 0
        for _, word in chosen:
            df = df_of[word]
            if not selective or postings + df <= SUGGEST_MAX_POSTINGS:
                selective.append(word)
                postings += df
            else:
                broad.append(word)
        cursor.execute(
            _RANK_SQL,
            {
                "words": [w for _, w in chosen],
                "idf": [i for i, _ in chosen],
                "selective": selective,
                "broad": broad,
                "pool": SUGGEST_POOL,
                "k1": BM25_K1,
                "b": BM25_B,
                "avgdl": avgdl,
                "exclude": exclude_id or 0,
                "limit": limit,
            },
        )
        return [(pk, float(score)) for pk, score in cursor.fetchall()]


_WORD = re.compile(r"[a-z0-9]+")
# Words too common to say anything about whether two requests are the same need.
_STOP_TEXT = (
    "a an and are as at be but by can could do does for from has have how i if in into is it its "
    "me my no not of on or our so that the their them then there these they this to too us was we "
    "were what when where which who will with would you your"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())


def _words(text: str) -> list[str]:
    out = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP_WORDS or len(word) < 2:
            continue
        # A light stemmer: "exports", "exported", "exporting" all meet "export".
        for suffix in ("ing", "ed", "es", "s"):
            if len(word) > len(suffix) + 2 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        out.append(word)
    return out


@lru_cache(maxsize=20_000)
def _word_set(text: str) -> frozenset[str]:
    # Requests are read far more often than written: tokenise each text once per process.
    return frozenset(_words(text))


def _rank_overlap(text: str, limit: int, exclude_id: int | None) -> list[tuple[int, float]]:
    query = Counter(_words(text))
    if not query:
        return []
    rows = list(
        FeatureRequest.objects.filter(status__in=OPEN_STATUSES)
        .exclude(pk=exclude_id or 0)
        .values_list("pk", "title", "problem", "desired_outcome")
    )
    documents = {
        pk: (_word_set(title), _word_set(f"{problem} {outcome}"))
        for pk, title, problem, outcome in rows
    }
    df = Counter(word for title, body in documents.values() for word in title | body)
    n = max(len(documents), 1)
    scored = []
    for pk, (title, body) in documents.items():
        score = 0.0
        for word in query:
            if word in title or word in body:
                idf = math.log(1 + (n - df[word] + 0.5) / (df[word] + 0.5))
                score += idf * (3 if word in title else 1)
        if score > 0:
            scored.append((pk, score))
    scored.sort(key=lambda item: (-item[1], -item[0]))
    return scored[:limit]


def duplicate_suggestions(
    *, text: str, limit: int = 5, exclude_id: int | None = None, min_share: float = 0.0
) -> list[FeatureRequest]:
    """The open requests closest to ``text`` (a title, a problem, or both), best first.

    Relevance is over any of the words, not all of them, so a whole description still matches.
    Each row carries ``relevance``, ``accounts_count`` (distinct accounts asking) and
    ``revenue_at_stake`` (sum of the open deals linked through asks, each deal once).
    ``exclude_id`` leaves one request out (the one being edited). ``min_share`` drops matches
    scoring below that share of the best one (pages use it to hide a weak tail; evaluation
    does not). Empty text: no suggestions.
    At most four queries on PostgreSQL, two elsewhere, whatever the number of requests.
    """
    # NUL characters cannot reach PostgreSQL; the form reports them, suggestions ignore them.
    text = (text or "").replace("\x00", " ").strip()[:SUGGEST_MAX_CHARS]
    limit = max(1, min(int(limit), 50))
    if not text:
        return []
    if connection.vendor == "postgresql":
        ranked = _rank_postgres(text, limit, exclude_id)
    else:
        ranked = _rank_overlap(text, limit, exclude_id)
    if not ranked:
        return []
    floor = ranked[0][1] * min_share
    ranked = [(pk, relevance) for pk, relevance in ranked if relevance >= floor]
    by_pk = suggestion_rows(ids=[pk for pk, _ in ranked])
    out = []
    for pk, relevance in ranked:
        row = by_pk.get(pk)
        if row is not None:
            row.relevance = relevance
            out.append(row)
    return out


def suggestion_rows(*, ids: list[int]) -> dict[int, FeatureRequest]:
    """The requests ``ids`` with their accounts asking and revenue at stake, in one query."""
    linked = Ask.objects.filter(deal_id=OuterRef("pk"), request_id=OuterRef(OuterRef("pk")))
    revenue = (
        Deal.objects.open()
        .filter(Exists(linked))
        .order_by()
        .annotate(total=Func(F("amount"), function="SUM"))
        .values("total")[:1]
    )
    accounts = (
        Ask.objects.filter(request=OuterRef("pk"))
        .order_by()
        .annotate(
            n=Func(F("account_id"), function="COUNT", template="COUNT(DISTINCT %(expressions)s)")
        )
        .values("n")[:1]
    )
    rows = FeatureRequest.objects.filter(pk__in=ids).annotate(
        accounts_count=Subquery(accounts), revenue_at_stake=Subquery(revenue)
    )
    return {row.pk: row for row in rows}
