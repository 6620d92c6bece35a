"""The scoring maths (DESIGN section 3), as pure functions over plain values: no ORM here.

Every component is 0-100 and local to one request: strategic fit S from the request's theme
alignments, customer breadth C from the customer accounts asking for it, revenue at stake R from
the open deals its asks are linked to. Value V is their weighted mean; the total is V times an
effort factor. Reference values (``breadth_ref``, ``revenue_ref``, ``effort_ref``, importance
multipliers, urgency days) are policy parameters, never totals over the database, so recomputing
one request is exact. The only global inputs are the number of customers and their total ARR,
which breadth divides by.

``score_request`` puts it all together and builds the explanation object that the board, the
sponsor view and the API show. RICE and WSJF are the alternative models over the same data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

CLOSED_STAGES = frozenset({"closed_won", "closed_lost"})
IMPORTANCE_LABELS = {
    "nice_to_have": "Nice to have",
    "important": "Important",
    "critical": "Critical",
    "blocker": "Deal blocker",
}
STRENGTH_LABELS = {0: "none", 1: "weak", 2: "medium", 3: "strong"}
TOP_N = 5  # deals and accounts listed in an explanation

FLAG_SINGLE_DEAL = "single_deal"
FLAG_STRATEGIC_NO_DEMAND = "strategic_no_demand"
FLAG_ESCALATED = "escalated"

# Published scales of the alternative models.
RICE_IMPACT = (3.0, 2.0, 1.0, 0.5, 0.25)
RICE_CONFIDENCE = (100, 80, 50)
WSJF_SCALE = (1, 2, 3, 5, 8, 13, 20)


@dataclass(frozen=True)
class PolicyParams:
    """The numbers of one ScoringPolicy version (defaults = DESIGN section 3)."""

    weight_strategic: float = 0.45
    weight_breadth: float = 0.35
    weight_revenue: float = 0.20
    breadth_ref: float = 0.05
    revenue_ref: float = 250_000.0
    effort_ref: float = 5.0
    importance_nice_to_have: float = 0.5
    importance_important: float = 1.0
    importance_critical: float = 1.5
    importance_blocker: float = 2.0
    urgency_near_days: int = 30
    urgency_far_days: int = 365
    urgency_floor: float = 0.25
    single_deal_share: float = 0.70
    single_deal_max_breadth: float = 20.0
    single_deal_max_fit: float = 30.0
    strategic_no_demand_min_fit: float = 60.0
    version: int = 0

    @classmethod
    def from_policy(cls, obj: Any) -> PolicyParams:
        """Read the same-named attributes of a ScoringPolicy (or any object that has them)."""
        return cls(**{f.name: getattr(obj, f.name) for f in fields(cls)})

    def importance_multiplier(self, importance: str) -> float:
        """The multiplier of an ask's importance; an unknown value counts as important."""
        return {
            "nice_to_have": self.importance_nice_to_have,
            "important": self.importance_important,
            "critical": self.importance_critical,
            "blocker": self.importance_blocker,
        }.get(importance, self.importance_important)


def _saturate(x: float, ref: float) -> float:
    """100 · (1 − e^(−x/ref)): 0 at 0, 63 at ref, approaching 100."""
    if x <= 0:
        return 0.0
    return 100.0 * (1.0 - math.exp(-x / ref))


# --- strategic fit -------------------------------------------------------------------------------


def strategic_fit(alignments: Iterable[tuple[float, int]]) -> float:
    """S = 100 · Σ w_t·a_t / (3 · Σ w_t) over the *active* themes.

    ``alignments`` holds one (weight, strength 0-3) pair per active theme, strength 0 where the
    request is not aligned: unaligned themes still count in the denominator. Inactive themes must
    be left out by the caller. No active themes (or all weights 0): S = 0.
    """
    weighted = 0.0
    total = 0.0
    for weight, strength in alignments:
        weighted += weight * max(0, min(3, strength))
        total += weight
    if total <= 0:
        return 0.0
    return 100.0 * weighted / (3.0 * total)


# --- customer breadth ----------------------------------------------------------------------------


def customer_breadth(
    *,
    customers: int,
    customer_arr: float,
    customers_total: int,
    arr_total: float,
    params: PolicyParams,
) -> float:
    """C = 100 · (1 − exp(−(0.5·reach + 0.5·arr_share) / breadth_ref)).

    reach = customers asking / all customers; arr_share = their ARR / all customers' ARR. Only
    customer accounts count (prospects have no place in "best for the most customers"). With no
    customers at all, or no ARR recorded, that half of the mix is 0.
    """
    reach = customers / customers_total if customers_total > 0 else 0.0
    arr_share = customer_arr / arr_total if arr_total > 0 else 0.0
    return _saturate(0.5 * reach + 0.5 * arr_share, params.breadth_ref)


# --- revenue at stake ----------------------------------------------------------------------------


def urgency(close_date: dt.date | None, *, today: dt.date, params: PolicyParams) -> float:
    """1 up to ``urgency_near_days`` out (and for overdue open deals), falling linearly to
    ``urgency_floor`` at ``urgency_far_days`` and beyond. A deal with no close date has no time
    pressure: it gets the floor."""
    if close_date is None:
        return params.urgency_floor
    days = (close_date - today).days
    near, far, floor = params.urgency_near_days, params.urgency_far_days, params.urgency_floor
    if days <= near:
        return 1.0
    if days >= far:
        return floor
    return 1.0 - (1.0 - floor) * (days - near) / (far - near)


@dataclass(frozen=True, slots=True)
class DealAsk:
    """One ask linked to a deal, with the deal's figures."""

    deal_id: int
    importance: str
    amount: float
    stage: str
    probability: int
    close_date: dt.date | None
    name: str = ""
    account: str = ""


@dataclass(frozen=True, slots=True)
class DealExposure:
    """One open deal's part of X, counted once with its strongest ask."""

    deal: DealAsk
    multiplier: float
    urgency: float
    weighted: float


def revenue_exposure(
    deal_asks: Iterable[DealAsk], *, today: dt.date, params: PolicyParams
) -> list[DealExposure]:
    """The open deals behind a request, each once, with its strongest ask, largest first.

    weighted = amount · probability · importance multiplier · urgency. Closed deals (won or
    lost) drop out; overdue open deals count as urgent (urgency 1). X is the sum of ``weighted``.
    """
    strongest: dict[int, tuple[float, DealAsk]] = {}
    for ask in deal_asks:
        if ask.stage in CLOSED_STAGES:
            continue
        multiplier = params.importance_multiplier(ask.importance)
        seen = strongest.get(ask.deal_id)
        if seen is None or multiplier > seen[0]:
            strongest[ask.deal_id] = (multiplier, ask)
    rows = []
    for multiplier, ask in strongest.values():
        u = urgency(ask.close_date, today=today, params=params)
        weighted = ask.amount * (ask.probability / 100.0) * multiplier * u
        rows.append(DealExposure(deal=ask, multiplier=multiplier, urgency=u, weighted=weighted))
    rows.sort(key=lambda r: (-r.weighted, r.deal.deal_id))
    return rows


def revenue_at_stake(exposure: float, params: PolicyParams) -> float:
    """R = 100 · (1 − exp(−X / revenue_ref))."""
    return _saturate(exposure, params.revenue_ref)


# --- value, effort, flags ------------------------------------------------------------------------


def combine_value(strategic: float, breadth: float, revenue: float, params: PolicyParams) -> float:
    """V = (w_S·S + w_C·C + w_R·R) / (w_S + w_C + w_R); 0 when every weight is 0."""
    ws, wc, wr = params.weight_strategic, params.weight_breadth, params.weight_revenue
    total = ws + wc + wr
    if total <= 0:
        return 0.0
    return (ws * strategic + wc * breadth + wr * revenue) / total


def effort_factor(effort: float | None, params: PolicyParams) -> float:
    """clamp(sqrt(effort_ref / effort), 0.5, 2.0); 1.0 while effort is unknown (None or ≤ 0)."""
    if effort is None or effort <= 0:
        return 1.0
    return max(0.5, min(2.0, math.sqrt(params.effort_ref / effort)))


def score_flags(
    *,
    strategic: float,
    breadth: float,
    exposure: float,
    top_deal_weighted: float,
    asks_count: int,
    escalated: bool,
    params: PolicyParams,
) -> list[str]:
    """``single_deal``: one deal supplies ≥ single_deal_share of X while C and S are low;
    ``strategic_no_demand``: S ≥ strategic_no_demand_min_fit with no asks; ``escalated``: an open
    escalation. Returned in that order."""
    flags = []
    if (
        exposure > 0
        and top_deal_weighted >= params.single_deal_share * exposure
        and breadth < params.single_deal_max_breadth
        and strategic < params.single_deal_max_fit
    ):
        flags.append(FLAG_SINGLE_DEAL)
    if asks_count == 0 and strategic >= params.strategic_no_demand_min_fit:
        flags.append(FLAG_STRATEGIC_NO_DEMAND)
    if escalated:
        flags.append(FLAG_ESCALATED)
    return flags


# --- alternative models --------------------------------------------------------------------------


def rice_score(
    *,
    reach: float | None,
    impact: float | None,
    confidence: float | None,
    effort_months: float | None,
) -> float | None:
    """RICE = reach · impact · confidence / effort. Impact on 3 / 2 / 1 / 0.5 / 0.25, confidence
    as a percentage (100 / 80 / 50), effort in person-months. None while any input is missing or
    effort is not positive."""
    if reach is None or impact is None or confidence is None or not effort_months:
        return None
    if effort_months <= 0:
        return None
    return float(reach) * float(impact) * (float(confidence) / 100.0) / float(effort_months)


def wsjf_score(
    *,
    business_value: int | None,
    time_criticality: int | None,
    risk_reduction: int | None,
    job_size: int | None,
) -> float | None:
    """WSJF = (business value + time criticality + risk reduction / opportunity enablement) / job
    size, each on the modified Fibonacci scale 1, 2, 3, 5, 8, 13, 20. None while any is missing."""
    parts = (business_value, time_criticality, risk_reduction)
    if any(p is None for p in parts) or not job_size:
        return None
    return (business_value + time_criticality + risk_reduction) / job_size


# --- one request, explained ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Theme:
    id: int
    name: str
    weight: float
    active: bool = True


@dataclass(frozen=True, slots=True)
class AccountAsk:
    """An account asking for the request (once per account)."""

    id: int
    name: str
    is_customer: bool
    arr: float


@dataclass(frozen=True)
class Context:
    """What every request in one recompute shares."""

    params: PolicyParams
    today: dt.date
    themes: Sequence[Theme]
    customers_total: int
    arr_total: float
    computed_at: dt.datetime
    active_weight: float = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "active_weight", sum(t.weight for t in self.themes if t.active))


@dataclass
class RequestInputs:
    """Everything one request's score depends on, as plain values."""

    id: int
    effort: float | None = None
    status: str = "new"
    merged_into: int | None = None
    asks_count: int = 0
    accounts: list[AccountAsk] = field(default_factory=list)
    deal_asks: list[DealAsk] = field(default_factory=list)
    alignments: dict[int, int] = field(default_factory=dict)  # theme id → strength
    escalated: bool = False
    rice_reach: int | None = None
    rice_impact: float | None = None
    rice_confidence: int | None = None
    rice_effort_months: float | None = None
    wsjf_business_value: int | None = None
    wsjf_time_criticality: int | None = None
    wsjf_risk_reduction: int | None = None
    wsjf_job_size: int | None = None


@dataclass
class ScoreResult:
    request_id: int
    total: float
    value: float
    strategic_fit: float
    customer_breadth: float
    revenue_at_stake: float
    effort_factor: float
    revenue_exposure: float
    open_pipeline: float
    accounts_count: int
    customers_count: int
    flags: list[str]
    explanation: dict
    rice: float | None = None
    wsjf: float | None = None


def money(amount: float) -> str:
    return f"${amount:,.0f}"


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _r(x: float, digits: int = 2) -> float:
    return round(x, digits)


def score_request(inputs: RequestInputs, ctx: Context) -> ScoreResult:
    """Score one request and explain it. A merged request gets a zero score that says where its
    demand went (its asks live on the surviving request)."""
    params = ctx.params
    weights = (params.weight_strategic, params.weight_breadth, params.weight_revenue)
    weight_sum = sum(weights) or 1.0

    if inputs.status == "merged":
        return _merged_result(inputs, ctx)

    # Strategic fit: every active theme counts in the denominator, inactive ones not at all.
    active = {t.id: t for t in ctx.themes if t.active}
    aligned = [
        (active[tid], strength)
        for tid, strength in inputs.alignments.items()
        if tid in active and strength > 0
    ]
    # The unaligned active themes enter as one pair of strength 0: same denominator, less work.
    unaligned_weight = ctx.active_weight - sum(t.weight for t, _ in aligned)
    s_score = strategic_fit([(t.weight, s) for t, s in aligned] + [(unaligned_weight, 0)])
    weighted_sum = sum(t.weight * s for t, s in aligned)
    themes_expl = sorted(
        (
            {
                "id": t.id,
                "name": t.name,
                "weight": t.weight,
                "strength": s,
                "share": _r(t.weight * s / weighted_sum, 3) if weighted_sum else 0.0,
            }
            for t, s in aligned
        ),
        key=lambda row: (-row["share"], row["name"]),
    )
    if not active:
        s_summary = "No active strategic themes, so strategic fit is 0."
    elif not aligned:
        s_summary = "Not aligned with any active theme."
    else:
        s_summary = "; ".join(
            f"{STRENGTH_LABELS[row['strength']].capitalize()} fit with {row['name']} "
            f"(weight {row['weight']:g})"
            for row in themes_expl[:3]
        ) + (f"; and {len(themes_expl) - 3} more." if len(themes_expl) > 3 else ".")

    # Customer breadth: distinct customer accounts only.
    customers = [a for a in inputs.accounts if a.is_customer]
    customer_arr = sum(a.arr for a in customers)
    c_score = customer_breadth(
        customers=len(customers),
        customer_arr=customer_arr,
        customers_total=ctx.customers_total,
        arr_total=ctx.arr_total,
        params=params,
    )
    reach = len(customers) / ctx.customers_total if ctx.customers_total else 0.0
    arr_share = customer_arr / ctx.arr_total if ctx.arr_total else 0.0
    top_accounts = sorted(customers, key=lambda a: (-a.arr, a.name))[:TOP_N]
    accounts_expl = [
        {
            "id": a.id,
            "name": a.name,
            "arr": _r(a.arr),
            "share": _r(a.arr / customer_arr, 3) if customer_arr else 0.0,
        }
        for a in top_accounts
    ]
    prospects = len(inputs.accounts) - len(customers)
    if customers:
        c_summary = (
            f"{len(customers)} of {ctx.customers_total} customers ({_pct(reach)}) "
            f"with {money(customer_arr)} of {money(ctx.arr_total)} ARR ({_pct(arr_share)})"
        )
    else:
        c_summary = "No customer has asked for this"
    if prospects:
        c_summary += f"; {prospects} prospect{'s' if prospects != 1 else ''} not counted"
    c_summary += "."

    # Revenue at stake: open deals, each once with its strongest ask.
    exposures = revenue_exposure(inputs.deal_asks, today=ctx.today, params=params)
    x = sum(e.weighted for e in exposures)
    open_pipeline = sum(e.deal.amount for e in exposures)
    r_score = revenue_at_stake(x, params)
    deals_expl = [
        {
            "id": e.deal.deal_id,
            "name": e.deal.name,
            "account": e.deal.account,
            "amount": _r(e.deal.amount),
            "stage": e.deal.stage,
            "probability": e.deal.probability,
            "close_date": e.deal.close_date.isoformat() if e.deal.close_date else None,
            "importance": e.deal.importance,
            "urgency": _r(e.urgency, 3),
            "weighted": _r(e.weighted),
            "share": _r(e.weighted / x, 3) if x else 0.0,
        }
        for e in exposures[:TOP_N]
    ]
    if exposures:
        top = exposures[0]
        r_summary = (
            f"{money(x)} weighted exposure from {len(exposures)} open "
            f"deal{'s' if len(exposures) != 1 else ''} ({money(open_pipeline)} pipeline); "
            f"largest: {top.deal.name} ({_pct(top.weighted / x if x else 0)})."
        )
    else:
        r_summary = "No open deal depends on this."

    value = combine_value(s_score, c_score, r_score, params)
    factor = effort_factor(inputs.effort, params)
    total = value * factor
    if inputs.effort:
        e_summary = (
            f"{inputs.effort:g} points against a reference of {params.effort_ref:g}: ×{factor:.2f}."
        )
    else:
        e_summary = "Effort not estimated yet: ×1.00."

    flags = score_flags(
        strategic=s_score,
        breadth=c_score,
        exposure=x,
        top_deal_weighted=exposures[0].weighted if exposures else 0.0,
        asks_count=inputs.asks_count,
        escalated=inputs.escalated,
        params=params,
    )
    reasons = {}
    if FLAG_SINGLE_DEAL in flags:
        top = exposures[0]
        reasons[FLAG_SINGLE_DEAL] = (
            f"{top.deal.name} supplies {_pct(top.weighted / x)} of the revenue at stake while "
            f"customer breadth is {c_score:.0f} and strategic fit {s_score:.0f}."
        )
    if FLAG_STRATEGIC_NO_DEMAND in flags:
        reasons[FLAG_STRATEGIC_NO_DEMAND] = (
            f"Strategic fit is {s_score:.0f} but no customer or prospect has asked for it yet."
        )
    if FLAG_ESCALATED in flags:
        reasons[FLAG_ESCALATED] = "Sales has escalated the decision; an executive will resolve it."

    def contribution(weight: float, score: float) -> float:
        return _r(weight * score / weight_sum)

    reach_count = inputs.rice_reach if inputs.rice_reach is not None else len(inputs.accounts)
    rice = rice_score(
        reach=reach_count,
        impact=inputs.rice_impact,
        confidence=inputs.rice_confidence,
        effort_months=inputs.rice_effort_months,
    )
    wsjf = wsjf_score(
        business_value=inputs.wsjf_business_value,
        time_criticality=inputs.wsjf_time_criticality,
        risk_reduction=inputs.wsjf_risk_reduction,
        job_size=inputs.wsjf_job_size,
    )
    explanation = {
        "policy_version": params.version,
        "computed_at": ctx.computed_at.isoformat(),
        "value": _r(value),
        "total": _r(total),
        "flags": flags,
        "flag_reasons": reasons,
        "components": {
            "strategic_fit": {
                "score": _r(s_score),
                "weight": params.weight_strategic,
                "contribution": contribution(params.weight_strategic, s_score),
                "summary": s_summary,
                "themes": themes_expl,
            },
            "customer_breadth": {
                "score": _r(c_score),
                "weight": params.weight_breadth,
                "contribution": contribution(params.weight_breadth, c_score),
                "summary": c_summary,
                "customers": len(customers),
                "customers_total": ctx.customers_total,
                "reach": _r(reach, 4),
                "arr": _r(customer_arr),
                "arr_total": _r(ctx.arr_total),
                "arr_share": _r(arr_share, 4),
                "prospects": prospects,
                "accounts": accounts_expl,
            },
            "revenue_at_stake": {
                "score": _r(r_score),
                "weight": params.weight_revenue,
                "contribution": contribution(params.weight_revenue, r_score),
                "summary": r_summary,
                "exposure": _r(x),
                "open_pipeline": _r(open_pipeline),
                "deals_count": len(exposures),
                "deals": deals_expl,
            },
            "effort": {"effort": inputs.effort, "factor": _r(factor, 3), "summary": e_summary},
        },
        "alternatives": {
            "rice": {"score": None if rice is None else _r(rice), "reach": reach_count},
            "wsjf": {"score": None if wsjf is None else _r(wsjf)},
        },
    }
    return ScoreResult(
        request_id=inputs.id,
        total=total,
        value=value,
        strategic_fit=s_score,
        customer_breadth=c_score,
        revenue_at_stake=r_score,
        effort_factor=factor,
        revenue_exposure=x,
        open_pipeline=open_pipeline,
        accounts_count=len(inputs.accounts),
        customers_count=len(customers),
        flags=flags,
        explanation=explanation,
        rice=rice,
        wsjf=wsjf,
    )


def _merged_result(inputs: RequestInputs, ctx: Context) -> ScoreResult:
    params = ctx.params
    where = f"#{inputs.merged_into}" if inputs.merged_into else "another request"
    summary = f"Merged into {where}; its demand is scored there."
    empty = {"score": 0.0, "contribution": 0.0, "summary": summary}
    explanation = {
        "policy_version": params.version,
        "computed_at": ctx.computed_at.isoformat(),
        "value": 0.0,
        "total": 0.0,
        "flags": [],
        "flag_reasons": {},
        "merged_into": inputs.merged_into,
        "components": {
            "strategic_fit": {**empty, "weight": params.weight_strategic, "themes": []},
            "customer_breadth": {
                **empty,
                "weight": params.weight_breadth,
                "customers": 0,
                "customers_total": ctx.customers_total,
                "reach": 0.0,
                "arr": 0.0,
                "arr_total": _r(ctx.arr_total),
                "arr_share": 0.0,
                "accounts": [],
            },
            "revenue_at_stake": {
                **empty,
                "weight": params.weight_revenue,
                "exposure": 0.0,
                "open_pipeline": 0.0,
                "deals": [],
            },
            "effort": {"effort": inputs.effort, "factor": 1.0, "summary": summary},
        },
    }
    return ScoreResult(
        request_id=inputs.id,
        total=0.0,
        value=0.0,
        strategic_fit=0.0,
        customer_breadth=0.0,
        revenue_at_stake=0.0,
        effort_factor=1.0,
        revenue_exposure=0.0,
        open_pipeline=0.0,
        accounts_count=0,
        customers_count=0,
        flags=[],
        explanation=explanation,
    )
