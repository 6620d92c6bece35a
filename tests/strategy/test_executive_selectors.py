"""Executive reads: queue order and SLA, ranks, and the portfolio figures against hand counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from requests_app.models import (
    DealStage,
    DecisionKind,
    Escalation,
    EscalationOutcome,
    EscalationStatus,
    RequestStatus,
)
from strategy import executive_selectors as sel
from strategy.models import RequestScore
from tests.factories import (
    AlignmentFactory,
    AskFactory,
    DealFactory,
    DecisionFactory,
    EscalationFactory,
    FeatureRequestFactory,
    ThemeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def scored(request, **values) -> RequestScore:
    """A computed score row (requests get a stale, never-computed row when they are created)."""
    values = {"stale": False, "computed_at": timezone.now(), **values}
    return RequestScore.objects.update_or_create(request=request, defaults=values)[0]


def resolved(**kwargs):
    return EscalationFactory(
        status=EscalationStatus.RESOLVED,
        outcome=kwargs.pop("outcome", EscalationOutcome.UPHOLD),
        resolution_rationale="Decided.",
        resolved_at=kwargs.pop("resolved_at", timezone.now()),
        **kwargs,
    )


# --- quarters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "label"),
    [(dt.date(2026, 1, 1), "2026-Q1"), (dt.date(2026, 3, 31), "2026-Q1"),
     (dt.date(2026, 4, 1), "2026-Q2"), (dt.date(2026, 12, 15), "2026-Q4"), (None, "")],
)  # fmt: skip
def test_quarter_of(day, label):
    assert sel.quarter_of(day) == label


def test_quarter_relative_and_ahead():
    today = dt.date(2026, 11, 27)
    assert sel.quarter_relative("2026-Q4", today) == "this quarter"
    assert sel.quarter_relative("2027-Q1", today) == "next quarter"
    assert sel.quarter_relative("2026-Q3", today) == "last quarter"
    assert sel.quarter_relative("2027-Q4", today) == "in 4 quarters"
    assert sel.quarter_relative("2025-Q4", today) == "4 quarters ago"
    assert sel.quarters_ahead(3, today) == ["2026-Q4", "2027-Q1", "2027-Q2"]


# --- queue ---------------------------------------------------------------------------------


def test_open_queue_is_ordered_by_sla_due_date_with_revenue_and_overdue():
    now = timezone.now()
    later = EscalationFactory(due_at=now + dt.timedelta(days=3))
    overdue = EscalationFactory(due_at=now - dt.timedelta(days=2))
    soon = EscalationFactory(due_at=now + dt.timedelta(hours=2))
    resolved(due_at=now - dt.timedelta(days=9))  # not in the open queue
    overdue.deals.add(DealFactory(amount=Decimal("1200000")), DealFactory(amount=Decimal("50000")))
    later.deals.add(DealFactory(amount=Decimal("10")))

    rows = list(sel.escalation_queue(filters=sel.QueueFilters(), now=now))
    assert [r.pk for r in rows] == [overdue.pk, soon.pk, later.pk]
    assert [r.is_overdue for r in rows] == [True, False, False]
    assert [r.revenue_at_stake for r in rows] == [Decimal("1250000"), 0, Decimal("10")]
    assert [r.deals_count for r in rows] == [2, 0, 1]
    assert sel.queue_counts(now=now) == {"open": 3, "overdue": 1, "resolved": 1}


def test_overdue_is_strictly_past_the_due_time_and_only_while_open():
    now = timezone.now()
    due_now = EscalationFactory(due_at=now)
    just_late = EscalationFactory(due_at=now - dt.timedelta(seconds=1))
    closed_late = resolved(due_at=now - dt.timedelta(days=1))
    flags = {e.pk: e.is_overdue for e in sel.escalations_with_figures(now=now)}
    assert flags == {due_now.pk: False, just_late.pk: True, closed_late.pk: False}
    # An hour later the one due "now" is overdue too.
    later = {
        e.pk: e.is_overdue for e in sel.escalations_with_figures(now=now + dt.timedelta(hours=1))
    }
    assert later[due_now.pk] is True


def test_queue_filters_by_rep_theme_and_outcome():
    rep_a, rep_b = UserFactory(), UserFactory()
    theme = ThemeFactory()
    a = EscalationFactory(raised_by=rep_a)
    b = EscalationFactory(raised_by=rep_b)
    AlignmentFactory(request=a.request, theme=theme, strength=1)
    AlignmentFactory(request=b.request, theme=theme, strength=0)  # "none" does not count
    up = resolved(outcome=EscalationOutcome.UPHOLD, raised_by=rep_a)
    over = resolved(outcome=EscalationOutcome.OVERTURN, raised_by=rep_a)

    def pks(**kw):
        return {e.pk for e in sel.escalation_queue(filters=sel.QueueFilters(**kw))}

    assert pks(rep=rep_a.pk) == {a.pk}
    assert pks(theme=theme.pk) == {a.pk}
    assert pks(tab="resolved") == {up.pk, over.pk}
    assert pks(tab="resolved", outcome="overturn") == {over.pk}
    assert pks(tab="resolved", rep=rep_b.pk) == set()


def test_queue_filters_from_ignores_garbage():
    f = sel.queue_filters_from({"rep": "abc", "theme": "-3", "outcome": "overturn"})
    assert f == sel.QueueFilters(tab="open", rep=None, theme=None, outcome="")
    f = sel.queue_filters_from({"tab": "resolved", "rep": "7", "outcome": "nope"})
    assert f == sel.QueueFilters(tab="resolved", rep=7, theme=None, outcome="")


# --- rank and what a yes costs -------------------------------------------------------------


def _scored(total, status=RequestStatus.UNDER_REVIEW, **kw):
    request = FeatureRequestFactory(status=status, **kw)
    scored(request, total=total)
    return request


def test_rank_and_requests_passed():
    top = _scored(90)
    second = _scored(70)
    _scored(95, status=RequestStatus.SHIPPED)  # not open: not ranked
    _scored(50)
    contested = _scored(60, status=RequestStatus.DECLINED)
    assert sel.rank_of(request_id=contested.pk, total=60) == (3, 4)
    count, rows = sel.requests_passed(request_id=contested.pk, total=60)
    assert count == 2
    assert [(r.pk, r.rank) for r in rows] == [(top.pk, 1), (second.pk, 2)]
    # An open request is ranked among the others without counting itself.
    assert sel.rank_of(request_id=second.pk, total=70) == (2, 3)
    # No score: no rank and nothing passed.
    assert sel.rank_of(request_id=contested.pk, total=None) == (None, 3)
    assert sel.requests_passed(request_id=contested.pk, total=None) == (0, [])


def test_escalation_case_without_a_score(django_assert_max_num_queries):
    escalation = EscalationFactory()
    escalation.deals.add(DealFactory(close_date=dt.date(2026, 12, 15)))
    with django_assert_max_num_queries(9):
        case = sel.escalation_case(pk=escalation.pk)
    assert case.score is None and case.rank is None and case.components == []
    assert case.deals[0].quarter == "2026-Q4"
    assert sel.escalation_case(pk=escalation.pk + 1000) is None


def test_escalation_case_queries_do_not_grow_with_rows(django_assert_max_num_queries):
    request = _scored(40, status=RequestStatus.DECLINED)
    decision = DecisionFactory(request=request)
    escalation = EscalationFactory(request=request, contested_decision=decision)
    for _ in range(6):
        deal = DealFactory()
        escalation.deals.add(deal)
        AskFactory(request=request, account=deal.account, deal=deal, note="We need it.")
        AlignmentFactory(request=request)
        _scored(80)
    with django_assert_max_num_queries(9):
        case = sel.escalation_case(pk=escalation.pk)
        assert len(case.deals) == 6 and len(case.asks) == 6 and len(case.alignments) == 6
        assert case.rank == 7 and case.passed_count == 6
        assert case.decision == decision


# --- portfolio -----------------------------------------------------------------------------


@pytest.fixture
def portfolio_data():
    t1 = ThemeFactory(name="Enterprise", weight=30)
    t2 = ThemeFactory(name="Self-serve", weight=10)
    t3 = ThemeFactory(name="Retired", weight=50, active=False)
    r1 = FeatureRequestFactory(status=RequestStatus.NEW)
    r2 = FeatureRequestFactory(status=RequestStatus.UNDER_REVIEW)
    r3 = FeatureRequestFactory(status=RequestStatus.ACCEPTED)
    r4 = FeatureRequestFactory(status=RequestStatus.DECLINED)
    r5 = FeatureRequestFactory(status=RequestStatus.SHIPPED)
    r6 = FeatureRequestFactory(status=RequestStatus.IN_PROGRESS)
    AlignmentFactory(request=r1, theme=t1, strength=3)
    AlignmentFactory(request=r1, theme=t2, strength=1)
    AlignmentFactory(request=r2, theme=t1, strength=0)
    AlignmentFactory(request=r2, theme=t3, strength=3)  # inactive theme: still "No theme"
    AlignmentFactory(request=r3, theme=t2, strength=2)
    AlignmentFactory(request=r4, theme=t1, strength=3)

    def deal(amount, stage=DealStage.PROPOSAL):
        return DealFactory(amount=Decimal(amount), stage=stage)

    d1, d2, d3, d7 = deal(100_000), deal(50_000), deal(70_000), deal(10_000)
    d4 = deal(200_000, DealStage.CLOSED_WON)
    d5 = deal(30_000, DealStage.CLOSED_LOST)
    d6 = deal(40_000, DealStage.CLOSED_WON)
    for request, d in [(r1, d1), (r2, d1), (r3, d2), (r4, d3), (r1, d4), (r5, d4), (r5, d5),
                       (r5, d6), (r5, d6), (r1, d7), (r1, d7)]:  # fmt: skip
        AskFactory(request=request, account=d.account, deal=d)
    scored(r3, flag_single_deal=True)
    scored(r5, flag_single_deal=False)
    for request, when in [(r3, at(2026, 2, 10)), (r6, at(2026, 5, 1)), (r5, at(2026, 1, 5)),
                          (r5, at(2026, 4, 20)), (r4, at(2026, 2, 1))]:  # fmt: skip
        decision = DecisionFactory(request=request, kind=DecisionKind.ACCEPT)
        type(decision).objects.filter(pk=decision.pk).update(decided_at=when)
    for created, done, outcome in [
        (at(2026, 1, 1), at(2026, 1, 4), EscalationOutcome.UPHOLD),
        (at(2026, 2, 1), at(2026, 2, 11), EscalationOutcome.OVERTURN),
        (at(2026, 3, 25), at(2026, 4, 1), EscalationOutcome.COMPROMISE),
    ]:
        e = resolved(outcome=outcome, resolved_at=done)
        Escalation.objects.filter(pk=e.pk).update(created_at=created)
    EscalationFactory()  # open: not counted
    return {"t1": t1, "t2": t2}


def test_pipeline_by_status_counts_each_deal_once(portfolio_data):
    rows, total = sel.pipeline_by_status()
    by = {row["key"]: row["value"] for row in rows}
    assert by == {
        "new": Decimal("110000"),
        "under_review": Decimal("100000"),
        "needs_info": 0,
        "accepted": Decimal("50000"),
        "in_progress": 0,
        "deferred": 0,
    }
    assert total == Decimal("160000")


def test_pipeline_by_theme(portfolio_data):
    rows = sel.pipeline_by_theme()
    assert [(row["label"], row["value"]) for row in rows] == [
        ("Enterprise", Decimal("110000")),
        ("Self-serve", Decimal("160000")),
        ("No theme", Decimal("100000")),
    ]


def test_single_deal_share_and_trend(portfolio_data):
    result = sel.single_deal_share()
    assert result["accepted"] == 3 and result["flagged"] == 1
    assert result["share"] == pytest.approx(1 / 3)
    assert result["trend"] == [
        {"quarter": "2026-Q1", "accepted": 1, "flagged": 1, "share": 1.0},
        {"quarter": "2026-Q2", "accepted": 2, "flagged": 0, "share": 0.0},
    ]


def test_escalation_outcomes_and_median_days(portfolio_data):
    result = sel.escalation_outcomes()
    assert result["resolved"] == 3
    assert result["median_days"] == pytest.approx(7)
    q1, q2 = result["quarters"]
    assert q1["quarter"] == "2026-Q1" and q2["quarter"] == "2026-Q2"
    assert [c["count"] for c in q1["counts"]] == [1, 1, 0]
    assert [c["count"] for c in q2["counts"]] == [0, 0, 1]
    assert q1["median_days"] == pytest.approx(6.5) and q2["median_days"] == pytest.approx(7)
    assert [t["count"] for t in result["totals"]] == [1, 1, 1]


def test_revenue_won_on_shipped_requests(portfolio_data):
    assert sel.revenue_won_on_shipped() == {"amount": Decimal("240000"), "deals": 2}


def test_portfolio_on_an_empty_database():
    figures = sel.portfolio()
    assert figures["pipeline_total"] == 0
    assert figures["single_deal"]["share"] is None
    assert figures["escalations"]["median_days"] is None
    assert figures["revenue_won"] == {"amount": 0, "deals": 0}


def test_resolved_tab_lists_the_latest_resolution_first():
    now = timezone.now()
    older = resolved(resolved_at=now - dt.timedelta(days=3))
    newest = resolved(resolved_at=now - dt.timedelta(hours=1))
    middle = resolved(resolved_at=now - dt.timedelta(days=1))
    rows = sel.escalation_queue(filters=sel.QueueFilters(tab="resolved"), now=now)
    assert [r.pk for r in rows] == [newest.pk, middle.pk, older.pk]
    assert not any(r.is_overdue for r in rows)
