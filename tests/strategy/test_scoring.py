"""The scoring maths (DESIGN section 3), pure functions: every component at its edges."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from strategy import scoring
from strategy.scoring import (
    AccountAsk,
    Context,
    DealAsk,
    PolicyParams,
    RequestInputs,
    Theme,
    combine_value,
    customer_breadth,
    effort_factor,
    revenue_at_stake,
    revenue_exposure,
    rice_score,
    score_flags,
    score_request,
    strategic_fit,
    urgency,
    wsjf_score,
)

TODAY = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
P = PolicyParams(version=1)


def deal(deal_id=1, *, importance="important", amount=100_000.0, stage="proposal", prob=50,
         days=10, name="Acme renewal", account="Acme"):  # fmt: skip
    close = None if days is None else TODAY + dt.timedelta(days=days)
    return DealAsk(
        deal_id=deal_id,
        importance=importance,
        amount=amount,
        stage=stage,
        probability=prob,
        close_date=close,
        name=name,
        account=account,
    )


def ctx(themes=(), customers_total=100, arr_total=10_000_000.0, params=P):
    return Context(
        params=params,
        today=TODAY,
        themes=list(themes),
        customers_total=customers_total,
        arr_total=arr_total,
        computed_at=NOW,
    )


# --- policy --------------------------------------------------------------------------------------


def test_policy_params_read_every_field_from_the_policy_model(db):
    from strategy.services import policy_current

    params = PolicyParams.from_policy(policy_current())
    assert params == PolicyParams(version=params.version)
    assert params.version >= 1


def test_unknown_importance_counts_as_important():
    assert P.importance_multiplier("blocker") == 2.0
    assert P.importance_multiplier("nice_to_have") == 0.5
    assert P.importance_multiplier("bogus") == 1.0


# --- strategic fit -------------------------------------------------------------------------------


def test_strategic_fit_is_weighted_mean_of_alignment_over_all_active_themes():
    # 100 · (30·3 + 10·0) / (3 · 40) = 75
    assert strategic_fit([(30, 3), (10, 0)]) == pytest.approx(75.0)
    assert strategic_fit([(30, 3), (10, 3)]) == pytest.approx(100.0)
    assert strategic_fit([(30, 1)]) == pytest.approx(100 / 3)


def test_strategic_fit_without_active_themes_is_zero():
    assert strategic_fit([]) == 0.0
    assert strategic_fit([(0, 3)]) == 0.0


def test_strategic_fit_clamps_strength_to_0_3():
    assert strategic_fit([(10, 7)]) == pytest.approx(100.0)
    assert strategic_fit([(10, -1)]) == 0.0


def test_inactive_themes_are_ignored_in_score_request():
    themes = [Theme(1, "Enterprise", 30), Theme(2, "Old bet", 70, active=False)]
    both = RequestInputs(id=1, alignments={1: 3, 2: 3})
    only_active = RequestInputs(id=2, alignments={1: 3})
    # The inactive theme neither adds to the numerator nor dilutes the denominator.
    assert score_request(both, ctx(themes)).strategic_fit == pytest.approx(100.0)
    assert score_request(only_active, ctx(themes)).strategic_fit == pytest.approx(100.0)


def test_no_active_themes_gives_zero_fit_and_says_so():
    result = score_request(RequestInputs(id=1, alignments={1: 3}), ctx([Theme(1, "X", 30, False)]))
    assert result.strategic_fit == 0.0
    assert (
        "No active strategic themes"
        in (result.explanation["components"]["strategic_fit"]["summary"])
    )


# --- customer breadth ----------------------------------------------------------------------------


def test_breadth_reference_gives_63_at_five_percent_of_the_base():
    c = customer_breadth(
        customers=5, customer_arr=500_000, customers_total=100, arr_total=10_000_000, params=P
    )
    assert c == pytest.approx(100 * (1 - math.exp(-1)))  # 63.2


def test_breadth_mixes_reach_and_arr_share_equally():
    reach_only = customer_breadth(
        customers=10, customer_arr=0, customers_total=100, arr_total=1_000_000, params=P
    )
    assert reach_only == pytest.approx(100 * (1 - math.exp(-(0.5 * 0.1) / 0.05)))


def test_breadth_with_no_customers_in_the_base_is_zero():
    assert (
        customer_breadth(customers=0, customer_arr=0, customers_total=0, arr_total=0, params=P)
        == 0.0
    )


def test_breadth_reference_comes_from_the_policy():
    wide = PolicyParams(breadth_ref=0.5)
    c = customer_breadth(
        customers=5, customer_arr=500_000, customers_total=100, arr_total=10_000_000, params=wide
    )
    assert c == pytest.approx(100 * (1 - math.exp(-0.1)))


def test_prospects_count_for_revenue_but_not_for_breadth():
    inputs = RequestInputs(
        id=1,
        asks_count=1,
        accounts=[AccountAsk(1, "Prospect Ltd", is_customer=False, arr=0)],
        deal_asks=[deal(amount=400_000, prob=50)],
    )
    result = score_request(inputs, ctx())
    assert result.customer_breadth == 0.0
    assert result.customers_count == 0
    assert result.accounts_count == 1
    assert result.revenue_at_stake > 0
    assert (
        "1 prospect not counted" in result.explanation["components"]["customer_breadth"]["summary"]
    )


# --- revenue at stake ----------------------------------------------------------------------------


def test_urgency_is_one_up_to_near_days_and_for_overdue_deals():
    assert urgency(TODAY + dt.timedelta(days=30), today=TODAY, params=P) == 1.0
    assert urgency(TODAY, today=TODAY, params=P) == 1.0
    assert urgency(TODAY - dt.timedelta(days=90), today=TODAY, params=P) == 1.0


def test_urgency_falls_linearly_to_the_floor():
    mid = TODAY + dt.timedelta(days=(30 + 365) // 2 + 1)  # 198 days: halfway-ish
    expected = 1 - 0.75 * (198 - 30) / (365 - 30)
    assert urgency(mid, today=TODAY, params=P) == pytest.approx(expected)
    assert urgency(TODAY + dt.timedelta(days=365), today=TODAY, params=P) == 0.25
    assert urgency(TODAY + dt.timedelta(days=2000), today=TODAY, params=P) == 0.25


def test_urgency_without_close_date_is_the_floor():
    assert urgency(None, today=TODAY, params=P) == 0.25


def test_urgency_days_and_floor_come_from_the_policy():
    params = PolicyParams(urgency_near_days=10, urgency_far_days=20, urgency_floor=0.5)
    assert urgency(TODAY + dt.timedelta(days=15), today=TODAY, params=params) == pytest.approx(0.75)
    assert urgency(TODAY + dt.timedelta(days=25), today=TODAY, params=params) == 0.5


def test_exposure_is_amount_probability_importance_urgency():
    rows = revenue_exposure([deal(amount=200_000, prob=50, importance="critical")], today=TODAY,
                            params=P)  # fmt: skip
    assert len(rows) == 1
    assert rows[0].weighted == pytest.approx(200_000 * 0.5 * 1.5 * 1.0)


def test_same_deal_asked_twice_counts_once_with_its_strongest_importance():
    rows = revenue_exposure(
        [deal(7, importance="nice_to_have"), deal(7, importance="blocker"), deal(7)],
        today=TODAY,
        params=P,
    )
    assert len(rows) == 1
    assert rows[0].multiplier == 2.0
    assert rows[0].weighted == pytest.approx(100_000 * 0.5 * 2.0)


def test_closed_deals_drop_out():
    rows = revenue_exposure(
        [deal(1, stage="closed_won", prob=100), deal(2, stage="closed_lost", prob=0), deal(3)],
        today=TODAY,
        params=P,
    )
    assert [r.deal.deal_id for r in rows] == [3]


def test_overdue_open_deals_count_as_urgent():
    overdue = revenue_exposure([deal(days=-45)], today=TODAY, params=P)[0]
    far = revenue_exposure([deal(days=400)], today=TODAY, params=P)[0]
    assert overdue.urgency == 1.0
    assert far.urgency == 0.25
    assert overdue.weighted == pytest.approx(4 * far.weighted)


def test_importance_multipliers_come_from_the_policy():
    params = PolicyParams(importance_blocker=5.0)
    rows = revenue_exposure([deal(importance="blocker")], today=TODAY, params=params)
    assert rows[0].weighted == pytest.approx(100_000 * 0.5 * 5.0)


def test_revenue_reference_gives_63_at_revenue_ref():
    assert revenue_at_stake(250_000, P) == pytest.approx(100 * (1 - math.exp(-1)))
    assert revenue_at_stake(0, P) == 0.0
    assert revenue_at_stake(250_000, PolicyParams(revenue_ref=500_000)) == pytest.approx(
        100 * (1 - math.exp(-0.5))
    )


# --- value and effort ----------------------------------------------------------------------------


def test_value_is_the_weighted_mean_of_the_components():
    assert combine_value(100, 0, 0, P) == pytest.approx(45.0)
    assert combine_value(0, 100, 0, P) == pytest.approx(35.0)
    assert combine_value(0, 0, 100, P) == pytest.approx(20.0)
    assert combine_value(80, 80, 80, P) == pytest.approx(80.0)
    custom = PolicyParams(weight_strategic=1, weight_breadth=1, weight_revenue=2)
    assert combine_value(40, 60, 100, custom) == pytest.approx(75.0)


def test_value_with_all_weights_zero_is_zero():
    assert combine_value(50, 50, 50, PolicyParams(0, 0, 0)) == 0.0


def test_effort_unknown_gives_factor_one():
    assert effort_factor(None, P) == 1.0
    assert effort_factor(0, P) == 1.0


def test_effort_factor_is_sqrt_of_reference_over_effort_within_bounds():
    assert effort_factor(5, P) == 1.0
    assert effort_factor(20, P) == pytest.approx(0.5)
    assert effort_factor(80, P) == 0.5  # clamped
    assert effort_factor(1, P) == 2.0  # sqrt(5) = 2.24 clamped to 2
    assert effort_factor(2, P) == pytest.approx(math.sqrt(2.5))
    assert effort_factor(10, PolicyParams(effort_ref=10)) == 1.0


def test_total_is_value_times_effort_factor():
    inputs = RequestInputs(id=1, effort=20, alignments={1: 3})
    result = score_request(inputs, ctx([Theme(1, "T", 10)]))
    assert result.value == pytest.approx(45.0)
    assert result.effort_factor == pytest.approx(0.5)
    assert result.total == pytest.approx(22.5)


# --- flags ---------------------------------------------------------------------------------------


def _flags(**overrides):
    values = {
        "strategic": 10.0,
        "breadth": 10.0,
        "exposure": 100.0,
        "top_deal_weighted": 70.0,
        "asks_count": 3,
        "escalated": False,
        "params": P,
    }
    values.update(overrides)
    return score_flags(**values)


def test_single_deal_when_one_deal_supplies_70_percent_and_breadth_and_fit_are_low():
    assert _flags() == ["single_deal"]
    assert _flags(top_deal_weighted=69.0) == []
    assert _flags(breadth=20.0) == []
    assert _flags(strategic=30.0) == []
    assert _flags(exposure=0.0, top_deal_weighted=0.0) == []


def test_strategic_no_demand_when_fit_is_high_and_nobody_asked():
    assert _flags(strategic=60.0, asks_count=0, exposure=0, top_deal_weighted=0) == [
        "strategic_no_demand"
    ]
    assert _flags(strategic=59.9, asks_count=0, exposure=0, top_deal_weighted=0) == []
    assert _flags(strategic=90.0, asks_count=1, exposure=0, top_deal_weighted=0) == []


def test_escalated_flag():
    assert _flags(top_deal_weighted=0, escalated=True) == ["escalated"]


def test_flag_thresholds_come_from_the_policy():
    params = PolicyParams(single_deal_share=0.9, strategic_no_demand_min_fit=40)
    assert _flags(params=params) == []
    assert _flags(params=params, strategic=45.0, asks_count=0, exposure=0, top_deal_weighted=0) == [
        "strategic_no_demand"
    ]


# --- the explanation -----------------------------------------------------------------------------


def test_explanation_has_every_component_with_inputs_and_top_contributors():
    themes = [Theme(1, "Enterprise", 30), Theme(2, "Platform", 10), Theme(3, "Old", 50, False)]
    inputs = RequestInputs(
        id=42,
        effort=8,
        asks_count=3,
        accounts=[
            AccountAsk(1, "Acme", True, 300_000),
            AccountAsk(2, "Globex", True, 100_000),
            AccountAsk(3, "Prospect", False, 0),
        ],
        deal_asks=[
            deal(1, amount=400_000, prob=75, importance="blocker", name="Acme renewal"),
            deal(2, amount=50_000, prob=20, name="Globex upsell", account="Globex"),
        ],
        alignments={1: 2, 2: 3},
        escalated=True,
    )
    result = score_request(inputs, ctx(themes))
    e = result.explanation
    assert e["policy_version"] == 1
    assert e["computed_at"] == NOW.isoformat()
    assert e["total"] == pytest.approx(result.total, abs=0.01)
    assert "escalated" in e["flags"] and e["flag_reasons"]["escalated"]
    comps = e["components"]
    s = comps["strategic_fit"]
    assert [t["name"] for t in s["themes"]] == ["Enterprise", "Platform"]
    assert s["themes"][0]["share"] == pytest.approx(60 / 90, abs=0.001)
    assert s["weight"] == 0.45
    b = comps["customer_breadth"]
    assert b["customers"] == 2 and b["customers_total"] == 100
    assert b["arr"] == 400_000 and b["arr_share"] == pytest.approx(0.04)
    assert [a["name"] for a in b["accounts"]] == ["Acme", "Globex"]
    assert b["accounts"][0]["share"] == pytest.approx(0.75)
    r = comps["revenue_at_stake"]
    assert [d["name"] for d in r["deals"]] == ["Acme renewal", "Globex upsell"]
    assert r["deals"][0]["importance"] == "blocker"
    assert r["exposure"] == pytest.approx(400_000 * 0.75 * 2 + 50_000 * 0.2)
    assert r["open_pipeline"] == 450_000
    assert sum(d["share"] for d in r["deals"]) == pytest.approx(1.0, abs=0.002)
    assert "Acme renewal" in r["summary"] and "$610,000" in r["summary"]
    assert comps["effort"] == {
        "effort": 8,
        "factor": pytest.approx(math.sqrt(5 / 8), abs=0.001),
        "summary": "8 points against a reference of 5: ×0.79.",
    }
    # contributions are the weight-normalised shares of value and add up to it
    contributions = sum(c["contribution"] for c in (s, b, r))
    assert contributions == pytest.approx(e["value"], abs=0.03)


def test_merged_request_scores_zero_and_points_to_the_survivor():
    result = score_request(RequestInputs(id=5, status="merged", merged_into=9), ctx())
    assert result.total == 0.0 and result.flags == []
    assert result.explanation["merged_into"] == 9
    assert "#9" in result.explanation["components"]["strategic_fit"]["summary"]


# --- RICE and WSJF -------------------------------------------------------------------------------


def test_rice_published_example():
    # Intercom's worked example: 2,000 reach · impact 2 · 80% confidence / 4 person-months.
    assert rice_score(reach=2000, impact=2, confidence=80, effort_months=4) == pytest.approx(800)


def test_rice_needs_every_input_and_positive_effort():
    assert rice_score(reach=10, impact=None, confidence=80, effort_months=1) is None
    assert rice_score(reach=10, impact=1, confidence=None, effort_months=1) is None
    assert rice_score(reach=10, impact=1, confidence=80, effort_months=0) is None
    assert rice_score(reach=10, impact=1, confidence=80, effort_months=-1) is None


def test_wsjf_published_example():
    # Cost of delay (business value 7 + time criticality 9 + risk reduction 5) / job size 2.
    assert wsjf_score(
        business_value=7, time_criticality=9, risk_reduction=5, job_size=2
    ) == pytest.approx(10.5)


def test_wsjf_needs_every_input():
    assert wsjf_score(business_value=7, time_criticality=None, risk_reduction=5, job_size=2) is None
    assert wsjf_score(business_value=7, time_criticality=9, risk_reduction=5, job_size=None) is None


def test_rice_reach_comes_from_asks_unless_overridden():
    accounts = [AccountAsk(i, f"A{i}", True, 10) for i in range(3)]
    derived = RequestInputs(
        id=1, accounts=accounts, rice_impact=1.0, rice_confidence=100, rice_effort_months=1.0
    )
    assert score_request(derived, ctx()).rice == pytest.approx(3.0)
    overridden = RequestInputs(
        id=2,
        accounts=accounts,
        rice_reach=2000,
        rice_impact=2.0,
        rice_confidence=80,
        rice_effort_months=4.0,
    )
    result = score_request(overridden, ctx())
    assert result.rice == pytest.approx(800)
    assert result.explanation["alternatives"]["rice"] == {"score": 800.0, "reach": 2000}


def test_published_scales():
    assert scoring.RICE_IMPACT == (3.0, 2.0, 1.0, 0.5, 0.25)
    assert scoring.RICE_CONFIDENCE == (100, 80, 50)
    assert scoring.WSJF_SCALE == (1, 2, 3, 5, 8, 13, 20)
