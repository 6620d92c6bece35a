"""The scoring maths of :mod:`strategy.scoring`, run inside PostgreSQL for a batch of requests.

Why it exists: building each request's explanation object in Python costs a few hundred
microseconds per request on a small machine, which alone would put a full recompute of 100,000
requests far beyond its 10-second budget. This module computes the same components, flags, totals
and explanation (same keys, same sentences) in one ``INSERT … SELECT … ON CONFLICT`` per batch, so
the rows never leave the database. :func:`strategy.scoring.score_request` stays the reference: it is
what SQLite runs, and a test on PostgreSQL checks that both produce the same scores and
explanations. Keep the two in step when the maths changes.

Merged requests are not handled here (the caller scores them with the Python path; they are few).
"""

from __future__ import annotations

from django.db import connection

from .scoring import Context

# Formatting helpers, inlined as SQL snippets: money like $1,250,000 and percentages like 4.7%.
_MONEY = "('$' || to_char(round(({})::numeric), 'FM999,999,999,999,990'))"
_PCT = "(to_char((round(((({}) * 100)) * 1e1) / 1e1), 'FM999990.0') || '%%')"


def _money(expr: str) -> str:
    return _MONEY.format(expr)


def _pct(expr: str) -> str:
    return _PCT.format(expr)


# The explanation is assembled as JSON text and cast to jsonb once: json_build_object looks up
# the type of every argument on every row, which made it the most expensive part of a recompute.
# Every piece must be non-null (a null would blank the whole text), hence the coalesces.


def _num(expr: str, digits: int | None = None) -> str:
    """A float rounded like the Python reference, as JSON number text."""
    if digits is None:
        return f"(({expr})::text)"
    return f"((round(({expr})::float8 * 1e{digits}) / 1e{digits})::text)"


def _nullable(expr: str) -> str:
    return f"coalesce({expr}, 'null')"


def _str(expr: str) -> str:
    """A text value as a JSON string (escaped)."""
    return f"to_json(({expr})::text)::text"


def _obj(*pairs: tuple[str, str]) -> str:
    """A JSON object from (key, SQL text expression) pairs."""
    parts = []
    for i, (key, value) in enumerate(pairs):
        sep = "{" if i == 0 else ","
        parts.append(f"'{sep}\"{key}\":' || {value}")
    return "(" + " || ".join(parts) + " || '}')"


def _array(element: str, *, order: str, where: str) -> str:
    """A JSON array aggregate of ``element`` objects."""
    return (
        f"'[' || coalesce(string_agg({element}, ',' ORDER BY {order}) FILTER (WHERE {where}), '')"
        " || ']'"
    )


_THEME = _obj(
    ("id", _num("id")),
    ("name", _str("name")),
    ("weight", _num("weight")),
    ("strength", _num("strength")),
    ("share", _num("share")),
)
_ACCOUNT = _obj(
    ("id", _num("id")),
    ("name", _str("name")),
    ("arr", _num("arr", 2)),
    ("share", "CASE WHEN carr > 0 THEN " + _num("arr / carr", 3) + " ELSE '0' END"),
)
_DEAL = _obj(
    ("id", _num("id")),
    ("name", _str("name")),
    ("account", _str("account")),
    ("amount", _num("amount", 2)),
    ("stage", _str("stage")),
    ("probability", _num("probability")),
    ("close_date", _nullable("'\"' || close_date::text || '\"'")),
    ("importance", _str("importance")),
    ("urgency", _num("urg", 3)),
    ("weighted", _num("w", 2)),
    ("share", "CASE WHEN x > 0 THEN " + _num("w / x", 3) + " ELSE '0' END"),
)
_FLAGS = (
    "('[' || concat_ws(',', CASE WHEN single_deal THEN '\"single_deal\"' END, "
    "CASE WHEN no_demand THEN '\"strategic_no_demand\"' END, "
    "CASE WHEN escalated THEN '\"escalated\"' END) || ']')"
)
_REASONS = (
    "('{' || concat_ws(',', "
    "CASE WHEN single_deal THEN '\"single_deal\":' || "
    + _str(
        "format('%%s supplies %%s of the revenue at stake while customer breadth is %%s and "
        "strategic fit %%s.', top_name, " + _pct("top / x") + ", "
        "to_char(round(cb::numeric), 'FM990'), to_char(round(sf::numeric), 'FM990'))"
    )
    + " END, "
    "CASE WHEN no_demand THEN '\"strategic_no_demand\":' || "
    + _str(
        "format('Strategic fit is %%s but no customer or prospect has asked for it yet.', "
        "to_char(round(sf::numeric), 'FM990'))"
    )
    + " END, "
    "CASE WHEN escalated THEN '\"escalated\":' || "
    + _str("'Sales has escalated the decision; an executive will resolve it.'")
    + " END) || '}')"
)
_S_SUMMARY = """CASE
    WHEN NOT %(has_active)s THEN 'No active strategic themes, so strategic fit is 0.'
    WHEN themes_n = 0 THEN 'Not aligned with any active theme.'
    ELSE top3 || CASE WHEN themes_n > 3 THEN format('; and %%s more.', themes_n - 3) ELSE '.' END
END"""
_C_SUMMARY = (
    "CASE WHEN customers > 0 THEN format('%%s of %%s customers (%%s) with %%s of %%s ARR (%%s)', "
    "customers, %(customers_total)s, "
    + _pct("reach")
    + ", "
    + _money("carr")
    + ", "
    + _money("%(arr_total)s::float8")
    + ", "
    + _pct("arr_share")
    + ") "
    "ELSE 'No customer has asked for this' END || CASE WHEN accounts > customers THEN "
    "format('; %%s prospect%%s not counted', accounts - customers, "
    "CASE WHEN accounts - customers <> 1 THEN 's' ELSE '' END) ELSE '' END || '.'"
)
_R_SUMMARY = (
    "CASE WHEN deals_n > 0 THEN format('%%s weighted exposure from %%s open deal%%s "
    "(%%s pipeline); largest: %%s (%%s).', " + _money("x") + ", deals_n, "
    "CASE WHEN deals_n <> 1 THEN 's' ELSE '' END, "
    + _money("pipeline")
    + ", top_name, "
    + _pct("CASE WHEN x > 0 THEN top / x ELSE 0 END")
    + ") "
    "ELSE 'No open deal depends on this.' END"
)
_E_SUMMARY = (
    "CASE WHEN effort > 0 THEN format('%%s points against a reference of %%s: ×%%s.', effort, "
    "%(effort_ref_text)s, to_char(ef, 'FM990.00')) ELSE 'Effort not estimated yet: ×1.00.' END"
)


def _component(weight: str, score: str, summary: str, *extra: tuple[str, str]) -> str:
    return _obj(
        ("score", _num(score, 2)),
        ("weight", _num(f"%({weight})s")),
        ("contribution", _num(f"%({weight})s::float8 * {score} / %(wsum)s::float8", 2)),
        ("summary", _str(summary)),
        *extra,
    )


_EXPLANATION = _obj(
    ("policy_version", _num("%(version)s")),
    ("computed_at", _str("%(computed_at_iso)s")),
    ("value", _num("val", 2)),
    ("total", _num("total", 2)),
    ("flags", "flags"),
    ("flag_reasons", _REASONS),
    (
        "components",
        _obj(
            ("strategic_fit", _component("ws", "sf", _S_SUMMARY, ("themes", "themes"))),
            (
                "customer_breadth",
                _component(
                    "wc",
                    "cb",
                    _C_SUMMARY,
                    ("customers", _num("customers")),
                    ("customers_total", _num("%(customers_total)s")),
                    ("reach", _num("reach", 4)),
                    ("arr", _num("carr", 2)),
                    ("arr_total", _num("%(arr_total)s::float8", 2)),
                    ("arr_share", _num("arr_share", 4)),
                    ("prospects", _num("accounts - customers")),
                    ("accounts", "top_accounts"),
                ),
            ),
            (
                "revenue_at_stake",
                _component(
                    "wr",
                    "rs",
                    _R_SUMMARY,
                    ("exposure", _num("x", 2)),
                    ("open_pipeline", _num("pipeline", 2)),
                    ("deals_count", _num("deals_n")),
                    ("deals", "deals"),
                ),
            ),
            (
                "effort",
                _obj(
                    ("effort", _nullable(_num("effort"))),
                    ("factor", _num("ef", 3)),
                    ("summary", _str(_E_SUMMARY)),
                ),
            ),
        ),
    ),
    (
        "alternatives",
        _obj(
            ("rice", _obj(("score", _nullable(_num("rice", 2))), ("reach", _num("rice_reach_n")))),
            (
                "wsjf",
                _obj(
                    ("score", _nullable(_num("wsjf", 2))),
                ),
            ),
        ),
    ),
)

# Only the constant formatting snippets above are interpolated; values are bound parameters.
STATEMENT = f"""
WITH req AS (
    SELECT fr.id, fr.effort, fr.rice_reach, fr.rice_impact, fr.rice_confidence,
        fr.rice_effort_months, fr.wsjf_business_value, fr.wsjf_time_criticality,
        fr.wsjf_risk_reduction, fr.wsjf_job_size
    FROM requests_app_featurerequest fr
    WHERE fr.id = ANY(%(ids)s::bigint[]) AND fr.status <> 'merged'
), al AS (
    SELECT a.request_id, t.id, t.name, t.weight, a.strength, (t.weight * a.strength)::float8 AS ws
    FROM strategy_themealignment a
    JOIN strategy_strategictheme t ON t.id = a.theme_id AND t.active
    WHERE a.request_id = ANY(%(ids)s::bigint[]) AND a.strength > 0
), als AS (
    SELECT al.*, CASE WHEN sum(ws) OVER (PARTITION BY request_id) > 0
        THEN (round(ws / sum(ws) OVER (PARTITION BY request_id) * 1e3) / 1e3)
        ELSE 0 END AS share
    FROM al
), s AS (
    SELECT request_id, sum(ws) AS ws, count(*) AS n,
        {_array(_THEME, order='share DESC, name COLLATE "C"', where="true")} AS themes,
        array_to_string((array_agg(format('%%s fit with %%s (weight %%s)',
            CASE strength WHEN 1 THEN 'Weak' WHEN 2 THEN 'Medium' ELSE 'Strong' END, name, weight)
            ORDER BY share DESC, name COLLATE "C"))[1:3], '; ') AS top3
    FROM als GROUP BY request_id
), acc AS (
    SELECT k.request_id, k.account_id, count(*) AS asks
    FROM requests_app_ask k WHERE k.request_id = ANY(%(ids)s::bigint[])
    GROUP BY k.request_id, k.account_id
), accx AS (
    SELECT acc.request_id, acc.asks, a.id, a.name, a.is_customer, a.arr::float8 AS arr,
        row_number() OVER (PARTITION BY acc.request_id, a.is_customer
            ORDER BY a.arr DESC, a.name COLLATE "C") AS rn,
        sum(CASE WHEN a.is_customer THEN a.arr ELSE 0 END)
            OVER (PARTITION BY acc.request_id)::float8 AS carr
    FROM acc JOIN requests_app_account a ON a.id = acc.account_id
), c AS (
    SELECT request_id, count(*) AS accounts, count(*) FILTER (WHERE is_customer) AS customers,
        sum(asks) AS asks,
        max(carr) AS carr,
        {_array(_ACCOUNT, order="rn", where="is_customer AND rn <= %(top_n)s")} AS top
    FROM accx GROUP BY request_id
), dd AS (
    SELECT k.request_id, k.deal_id, max(CASE k.importance WHEN 'nice_to_have' THEN 0
        WHEN 'critical' THEN 2 WHEN 'blocker' THEN 3 ELSE 1 END) AS rank
    FROM requests_app_ask k
    WHERE k.request_id = ANY(%(ids)s::bigint[]) AND k.deal_id IS NOT NULL
    GROUP BY k.request_id, k.deal_id
), dw AS (
    SELECT dd.request_id, d.id, d.name, ac.name AS account, d.amount::float8 AS amount, d.stage,
        d.probability, d.close_date,
        (ARRAY['nice_to_have', 'important', 'critical', 'blocker'])[dd.rank + 1] AS importance,
        (%(multipliers)s::float8[])[dd.rank + 1] AS mult,
        CASE WHEN d.close_date IS NULL THEN %(floor)s::float8
            WHEN d.close_date - %(today)s::date <= %(near)s THEN 1.0::float8
            WHEN d.close_date - %(today)s::date >= %(far)s THEN %(floor)s::float8
            ELSE 1.0 - (1.0 - %(floor)s::float8) * (d.close_date - %(today)s::date - %(near)s)
                / (%(far)s - %(near)s)::float8
        END AS urg
    FROM dd
    JOIN requests_app_deal d ON d.id = dd.deal_id
    JOIN requests_app_account ac ON ac.id = d.account_id
    WHERE d.stage NOT IN ('closed_won', 'closed_lost')
), dw2 AS (
    SELECT dw.*, amount * (probability / 100.0::float8) * mult * urg AS w FROM dw
), dw3 AS (
    SELECT dw2.*, sum(w) OVER (PARTITION BY request_id) AS x,
        row_number() OVER (PARTITION BY request_id ORDER BY w DESC, id) AS rn
    FROM dw2
), r AS (
    SELECT request_id, max(x) AS x, sum(amount) AS pipeline, count(*) AS n, max(w) AS top,
        max(name) FILTER (WHERE rn = 1) AS top_name,
        {_array(_DEAL, order="rn", where="rn <= %(top_n)s")} AS deals
    FROM dw3 GROUP BY request_id
), e AS (
    SELECT DISTINCT request_id FROM requests_app_escalation
    WHERE status = 'open' AND request_id = ANY(%(ids)s::bigint[])
), comp AS (
    SELECT req.*,
        CASE WHEN %(active_weight)s::float8 > 0
            THEN 100.0 * coalesce(s.ws, 0) / (3.0 * %(active_weight)s::float8) ELSE 0 END AS sf,
        coalesce(s.n, 0) AS themes_n, s.top3, coalesce(s.themes, '[]') AS themes,
        coalesce(c.accounts, 0) AS accounts, coalesce(c.customers, 0) AS customers,
        coalesce(c.carr, 0) AS carr, coalesce(c.top, '[]') AS top_accounts,
        CASE WHEN %(customers_total)s > 0
            THEN coalesce(c.customers, 0)::float8 / %(customers_total)s ELSE 0 END AS reach,
        CASE WHEN %(arr_total)s::float8 > 0
            THEN coalesce(c.carr, 0) / %(arr_total)s::float8 ELSE 0 END AS arr_share,
        coalesce(r.x, 0) AS x, coalesce(r.pipeline, 0) AS pipeline, coalesce(r.n, 0) AS deals_n,
        coalesce(r.top, 0) AS top, r.top_name, coalesce(r.deals, '[]') AS deals,
        coalesce(c.asks, 0) AS asks, e.request_id IS NOT NULL AS escalated,
        CASE WHEN req.effort IS NULL OR req.effort <= 0 THEN 1.0::float8
            ELSE least(2.0, greatest(0.5, sqrt(%(effort_ref)s::float8 / req.effort))) END AS ef
    FROM req
    LEFT JOIN s ON s.request_id = req.id
    LEFT JOIN c ON c.request_id = req.id
    LEFT JOIN r ON r.request_id = req.id
    LEFT JOIN e ON e.request_id = req.id
), comp2 AS (
    SELECT comp.*,
        CASE WHEN 0.5 * reach + 0.5 * arr_share > 0 THEN 100.0 * (1 - exp(
            -least((0.5 * reach + 0.5 * arr_share) / %(breadth_ref)s::float8, 700))) ELSE 0 END
            AS cb,
        CASE WHEN x > 0 THEN 100.0 * (1 - exp(-least(x / %(revenue_ref)s::float8, 700)))
            ELSE 0 END AS rs,
        coalesce(rice_reach, accounts) AS rice_reach_n
    FROM comp
), comp3 AS (
    SELECT comp2.*,
        (%(ws)s::float8 * sf + %(wc)s::float8 * cb + %(wr)s::float8 * rs) / %(wsum)s::float8
            AS val,
        (x > 0 AND top >= %(sd_share)s::float8 * x AND cb < %(sd_breadth)s::float8
            AND sf < %(sd_fit)s::float8) AS single_deal,
        (asks = 0 AND sf >= %(nd_fit)s::float8) AS no_demand,
        CASE WHEN rice_impact <> '' AND rice_confidence IS NOT NULL AND rice_effort_months > 0
            THEN coalesce(rice_reach, accounts)::float8 * rice_impact::float8
                * (rice_confidence / 100.0::float8) / rice_effort_months::float8 END AS rice,
        CASE WHEN wsjf_business_value IS NOT NULL AND wsjf_time_criticality IS NOT NULL
            AND wsjf_risk_reduction IS NOT NULL AND wsjf_job_size > 0
            THEN (wsjf_business_value + wsjf_time_criticality + wsjf_risk_reduction)::float8
                / wsjf_job_size END AS wsjf
    FROM comp2
), fin AS (
    SELECT comp3.*, val * ef AS total,
        {_FLAGS} AS flags
    FROM comp3
)
INSERT INTO strategy_requestscore (
    request_id, total, value, strategic_fit, customer_breadth, revenue_at_stake, effort_factor,
    revenue_exposure, open_pipeline, accounts_count, customers_count, flags, flag_single_deal,
    flag_strategic_no_demand, flag_escalated, explanation, policy_version, computed_at, stale,
    stale_cause, rice, wsjf
)
SELECT id, total, val, sf, cb, rs, ef, x, round(pipeline::numeric, 2), accounts, customers,
    flags::jsonb, single_deal, no_demand, escalated,
    ({_EXPLANATION})::jsonb,
    %(version)s, %(computed_at)s, false, '', rice, wsjf
FROM fin
ON CONFLICT (request_id) DO UPDATE SET
    total = EXCLUDED.total, value = EXCLUDED.value, strategic_fit = EXCLUDED.strategic_fit,
    customer_breadth = EXCLUDED.customer_breadth, revenue_at_stake = EXCLUDED.revenue_at_stake,
    effort_factor = EXCLUDED.effort_factor, revenue_exposure = EXCLUDED.revenue_exposure,
    open_pipeline = EXCLUDED.open_pipeline, accounts_count = EXCLUDED.accounts_count,
    customers_count = EXCLUDED.customers_count, flags = EXCLUDED.flags,
    flag_single_deal = EXCLUDED.flag_single_deal,
    flag_strategic_no_demand = EXCLUDED.flag_strategic_no_demand,
    flag_escalated = EXCLUDED.flag_escalated, explanation = EXCLUDED.explanation,
    policy_version = EXCLUDED.policy_version, computed_at = EXCLUDED.computed_at,
    stale = EXCLUDED.stale, stale_cause = EXCLUDED.stale_cause, rice = EXCLUDED.rice,
    wsjf = EXCLUDED.wsjf
RETURNING request_id, total, strategic_fit, customer_breadth, revenue_at_stake
"""  # noqa: S608


def upsert_scores(
    ids: list[int], ctx: Context, *, top_n: int, own_transaction: bool = False
) -> list[tuple]:
    """Score the non-merged requests among ``ids`` and upsert their rows; returns
    ``(request_id, total, strategic_fit, customer_breadth, revenue_at_stake)`` per row written.
    ``own_transaction``: the caller opened the enclosing transaction for this batch alone."""
    p = ctx.params
    wsum = (p.weight_strategic + p.weight_breadth + p.weight_revenue) or 1.0
    params = {
        # One array literal, parsed once, instead of thousands of bound constants to plan.
        "ids": "{" + ",".join(map(str, ids)) + "}",
        "top_n": top_n,
        "today": ctx.today,
        "near": p.urgency_near_days,
        "far": p.urgency_far_days,
        "floor": p.urgency_floor,
        "multipliers": [
            p.importance_nice_to_have,
            p.importance_important,
            p.importance_critical,
            p.importance_blocker,
        ],
        "active_weight": ctx.active_weight,
        "has_active": any(t.active for t in ctx.themes),
        "customers_total": ctx.customers_total,
        "arr_total": ctx.arr_total,
        "breadth_ref": p.breadth_ref,
        "revenue_ref": p.revenue_ref,
        "effort_ref": p.effort_ref,
        "effort_ref_text": f"{p.effort_ref:g}",
        "ws": p.weight_strategic,
        "wc": p.weight_breadth,
        "wr": p.weight_revenue,
        "wsum": wsum,
        "sd_share": p.single_deal_share,
        "sd_breadth": p.single_deal_max_breadth,
        "sd_fit": p.single_deal_max_fit,
        "nd_fit": p.strategic_no_demand_min_fit,
        "version": p.version,
        "computed_at": ctx.computed_at,
        "computed_at_iso": ctx.computed_at.isoformat(),
    }
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # JIT compilation costs more than it saves on a statement run once per batch.
            cursor.execute("SET LOCAL jit = off")
        if own_transaction:
            # Scores are derived: if a crash loses this commit, the rows are still marked stale
            # and the sweep recomputes them, so the commit need not wait for the disk.
            cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(STATEMENT, params)
        return cursor.fetchall()


def available() -> bool:
    return connection.vendor == "postgresql"
