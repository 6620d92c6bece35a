"""Scoring services: the policy, set-wise recompute, freshness through signals and tasks.

Runs on SQLite (Python engine) and on PostgreSQL (SQL engine) alike: the same expectations hold
for both. Tasks run in-process here; tests/strategy/test_freshness_worker.py drives a real worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from requests_app import services as request_services
from requests_app.models import AuditEvent, DealStage, FeatureRequest, Importance
from strategy import services, tasks
from strategy.models import RequestScore, ScoreHistory, ScoringPolicy
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    EscalationFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    """Two requests that share nothing: one deal and one account each, one theme each."""
    enterprise = ThemeFactory(name="Enterprise", weight=30)
    platform = ThemeFactory(name="Platform", weight=10)
    acme = AccountFactory(name="Acme", arr=Decimal("300000"))
    globex = AccountFactory(name="Globex", arr=Decimal("100000"))
    AccountFactory(name="Initech", arr=Decimal("600000"))
    acme_deal = DealFactory(account=acme, name="Acme renewal", amount=Decimal("100000"))
    globex_deal = DealFactory(account=globex, name="Globex upsell", amount=Decimal("80000"))
    sso = FeatureRequestFactory(title="SSO")
    export = FeatureRequestFactory(title="Export")
    AskFactory(request=sso, account=acme, deal=acme_deal, importance=Importance.BLOCKER)
    AskFactory(request=export, account=globex, deal=globex_deal)
    AlignmentFactory(request=sso, theme=enterprise, strength=3)
    AlignmentFactory(request=export, theme=platform, strength=1)
    services.scores_recompute()
    return {
        "sso": sso,
        "export": export,
        "acme": acme,
        "globex": globex,
        "acme_deal": acme_deal,
        "globex_deal": globex_deal,
        "enterprise": enterprise,
        "platform": platform,
    }


def score(request) -> RequestScore:
    return RequestScore.objects.get(request=request)


def last_cause(request) -> str:
    return ScoreHistory.objects.filter(request=request).order_by("pk").last().cause


# --- policy --------------------------------------------------------------------------------------


def test_policy_current_recreates_version_1_when_missing():
    ScoringPolicy.objects.all().delete()
    policy = services.policy_current()
    assert policy.version == 1 and policy.weight_strategic == 0.45


def test_policy_update_creates_an_audited_version_and_rescores(world, product_user):
    before = score(world["sso"])
    with transaction.atomic():
        policy = services.policy_update(
            actor=product_user, reason="Strategy matters more this year", weight_strategic=0.9
        )
    assert policy.version == 2 and policy.created_by == product_user
    assert ScoringPolicy.objects.get(version=1).weight_strategic == 0.45  # never edited
    event = AuditEvent.objects.get(verb="policy.updated")
    assert event.before["weight_strategic"] == 0.45 and event.after["weight_strategic"] == 0.9
    assert event.after["reason"] == "Strategy matters more this year"
    # The save marked everything stale; recompute uses the new version.
    assert set(RequestScore.objects.values_list("stale", flat=True)) == {True}
    services.scores_recompute_stale()
    after = score(world["sso"])
    assert after.policy_version == 2 and not after.stale
    assert after.total != pytest.approx(before.total)
    assert after.value == pytest.approx(
        (0.9 * after.strategic_fit + 0.35 * after.customer_breadth + 0.2 * after.revenue_at_stake)
        / 1.45
    )
    assert last_cause(world["sso"]) == "policy v2: Strategy matters more this year"


def test_policy_update_rejects_bad_input(product_user):
    with pytest.raises(ValidationError):
        services.policy_update(actor=product_user, reason="", weight_strategic=0.5)
    with pytest.raises(ValidationError):
        services.policy_update(actor=product_user, reason="x", bogus=1)
    with pytest.raises(ValidationError):
        services.policy_update(actor=product_user, reason="x", urgency_floor=3)
    with pytest.raises(ValidationError):
        services.policy_update(
            actor=product_user, reason="x", weight_strategic=0, weight_breadth=0, weight_revenue=0
        )
    assert ScoringPolicy.objects.count() == 1


# --- recompute -----------------------------------------------------------------------------------


def test_recompute_scores_every_request_with_explanation_and_first_history(world):
    sso = score(world["sso"])
    assert not sso.stale and sso.policy_version == 1 and sso.computed_at is not None
    assert sso.customers_count == 1 and sso.accounts_count == 1
    # S: 100 · 30·3 / (3 · 40) = 75; C: 1 of 3 customers, 300k of 1M ARR
    assert sso.strategic_fit == pytest.approx(75.0)
    assert sso.customer_breadth == pytest.approx(
        100 * (1 - math.exp(-(0.5 / 3 + 0.5 * 0.3) / 0.05))
    )
    # R: 100,000 · 50% · blocker 2.0 · urgency 1 = 100,000
    assert sso.revenue_exposure == pytest.approx(100_000)
    assert sso.open_pipeline == Decimal("100000.00")
    e = sso.explanation
    assert e["components"]["revenue_at_stake"]["deals"][0]["name"] == "Acme renewal"
    assert e["components"]["customer_breadth"]["accounts"][0]["name"] == "Acme"
    assert e["components"]["strategic_fit"]["themes"][0]["name"] == "Enterprise"
    assert e["total"] == pytest.approx(sso.total, abs=0.01)
    assert ScoreHistory.objects.filter(request=world["sso"]).count() == 1


def test_recompute_is_idempotent(world):
    first = {s.request_id: (s.total, s.flags) for s in RequestScore.objects.all()}
    history = ScoreHistory.objects.count()
    assert services.scores_recompute() == 2
    again = {s.request_id: (s.total, s.flags) for s in RequestScore.objects.all()}
    assert again == first
    assert ScoreHistory.objects.count() == history  # nothing moved, nothing recorded


def test_merged_request_gets_a_fresh_zero_score(world, product_user):
    source, target = world["export"], world["sso"]
    with transaction.atomic():
        source.status = "merged"
        source.merged_into = target
        source.save()
    assert score(source).stale and score(target).stale
    services.scores_recompute_stale()
    merged = score(source)
    assert merged.total == 0 and not merged.stale and merged.flags == []
    assert merged.explanation["merged_into"] == target.pk


def test_flags_single_deal_strategic_no_demand_and_escalated(db):
    prospect = AccountFactory(is_customer=False, arr=0)
    big = DealFactory(account=prospect, amount=Decimal("2000000"), stage=DealStage.NEGOTIATION)
    small = DealFactory(account=prospect, amount=Decimal("20000"))
    narrow = FeatureRequestFactory(title="Narrow")
    AskFactory(request=narrow, account=prospect, deal=big, importance=Importance.BLOCKER)
    AskFactory(request=narrow, account=prospect, deal=small)
    AccountFactory()  # one customer in the base, who did not ask
    idea = FeatureRequestFactory(title="Idea")
    AlignmentFactory(request=idea, theme=ThemeFactory(weight=20), strength=3)
    escalated = FeatureRequestFactory(title="Escalated", status="declined")
    EscalationFactory(request=escalated)
    services.scores_recompute()
    assert score(narrow).flags == ["single_deal"] and score(narrow).flag_single_deal
    assert "supplies" in score(narrow).explanation["flag_reasons"]["single_deal"]
    assert score(idea).flags == ["strategic_no_demand"] and score(idea).flag_strategic_no_demand
    assert score(escalated).flags == ["escalated"] and score(escalated).flag_escalated


def test_alternative_models_are_stored(db):
    request = FeatureRequestFactory(
        rice_reach=2000,
        rice_impact="2",
        rice_confidence=80,
        rice_effort_months=Decimal("4"),
        wsjf_business_value=8,
        wsjf_time_criticality=13,
        wsjf_risk_reduction=5,
        wsjf_job_size=2,
    )
    services.scores_recompute(request_ids=[request.pk])
    assert score(request).rice == pytest.approx(800)
    assert score(request).wsjf == pytest.approx(13)


# --- freshness through signals -------------------------------------------------------------------


def test_deal_change_rescores_only_linked_requests_with_a_cause(
    world, sales_user, django_capture_on_commit_callbacks
):
    sso_before, export_before = score(world["sso"]), score(world["export"])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        request_services.deal_update(
            actor=sales_user, deal=world["acme_deal"], amount=Decimal("150000")
        )
        assert score(world["sso"]).stale and not score(world["export"]).stale
    sso, export = score(world["sso"]), score(world["export"])
    assert not sso.stale and sso.revenue_exposure == pytest.approx(150_000)
    assert sso.total > sso_before.total
    assert export.computed_at == export_before.computed_at  # untouched
    assert last_cause(world["sso"]) == "deal Acme renewal amount $100,000 → $150,000"


def test_deal_close_date_and_stage_causes(world, sales_user, django_capture_on_commit_callbacks):
    deal = world["acme_deal"]
    with django_capture_on_commit_callbacks(execute=True):
        request_services.deal_update(actor=sales_user, deal=deal, stage=DealStage.CLOSED_LOST)
    assert score(world["sso"]).revenue_exposure == 0
    assert last_cause(world["sso"]) == (
        "deal Acme renewal stage proposal → closed lost, probability 50% → 0%"
    )


def test_theme_weight_change_rescores_everything(world, django_capture_on_commit_callbacks):
    before = score(world["export"]).strategic_fit
    with django_capture_on_commit_callbacks(execute=True):
        theme = world["platform"]
        theme.weight = 30
        theme.save()
    assert score(world["export"]).strategic_fit > before
    assert not RequestScore.objects.filter(stale=True).exists()
    assert last_cause(world["export"]) == "theme Platform weight 10 → 30"
    assert last_cause(world["sso"]) == "theme Platform weight 10 → 30"


def test_ask_added_rescores_its_request(world, sales_user, django_capture_on_commit_callbacks):
    before = score(world["export"])
    with django_capture_on_commit_callbacks(execute=True):
        request_services.ask_add(
            actor=sales_user, request=world["export"], account=world["acme"], importance="critical"
        )
    after = score(world["export"])
    assert after.customers_count == 2 and after.customer_breadth > before.customer_breadth
    assert last_cause(world["export"]) == "ask added: Acme (Critical)"
    assert score(world["sso"]).computed_at < after.computed_at


def test_alignment_effort_and_account_arr_changes(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alignment = world["export"].alignments.get()
        alignment.strength = 3
        alignment.save()
    assert last_cause(world["export"]) == "alignment with Platform: Weak → Strong"
    with django_capture_on_commit_callbacks(execute=True):
        request = FeatureRequest.objects.get(pk=world["sso"].pk)
        request.effort = 20
        request.save()
    assert score(world["sso"]).effort_factor == pytest.approx(0.5)
    assert last_cause(world["sso"]) == "effort unknown → 20 points"
    with django_capture_on_commit_callbacks(execute=True):
        acme = world["acme"]
        acme.arr = Decimal("900000")
        acme.save()
    assert last_cause(world["sso"]) == "account Acme ARR $300,000 → $900,000"
    # breadth divides by the whole base, so the other request moved too
    assert last_cause(world["export"]) == "account Acme ARR $300,000 → $900,000"


def test_escalation_marks_its_request(world, sales_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        EscalationFactory(request=world["export"])
    assert score(world["export"]).flags == ["escalated"]


def test_new_request_gets_a_score_row_at_once(sales_user, django_capture_on_commit_callbacks):
    account = AccountFactory()
    with django_capture_on_commit_callbacks(execute=True):
        request = request_services.request_submit(
            actor=sales_user,
            title="Audit log",
            problem="Security reviews need it.",
            product_area="security",
            account=account,
        )
    assert not score(request).stale and score(request).customers_count == 1


def test_a_burst_of_changes_recomputes_each_request_once(
    world, sales_user, django_capture_on_commit_callbacks
):
    deal = world["acme_deal"]
    history = ScoreHistory.objects.filter(request=world["sso"]).count()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for amount in (110_000, 120_000, 130_000):
            request_services.deal_update(actor=sales_user, deal=deal, amount=Decimal(amount))
        # the latest change is the recorded cause
        assert score(world["sso"]).stale_cause.endswith("$120,000 → $130,000")
    assert ScoreHistory.objects.filter(request=world["sso"]).count() == history + 1
    assert last_cause(world["sso"]) == "deal Acme renewal amount $120,000 → $130,000"
    assert score(world["sso"]).revenue_exposure == pytest.approx(130_000)


def test_enqueue_is_skipped_while_one_is_pending(world):
    assert tasks.scores_recompute_enqueue() is True  # in-process: runs and clears the key
    cache.add(tasks.PENDING_KEY, "1", timeout=30)
    assert tasks.scores_recompute_enqueue() is False


def test_recompute_ignores_requests_that_do_not_exist(world):
    # An id with no request behind it is skipped, not an error.
    RequestScore.objects.filter(request=world["sso"]).update(stale=True)
    assert services.scores_recompute(request_ids=[world["sso"].pk, 999_999]) == 1


# --- periodic tasks ------------------------------------------------------------------------------


def test_sweep_repairs_stale_and_missing_scores(world):
    RequestScore.objects.filter(request=world["sso"]).update(stale=True)
    # written in bulk: no signal, no score row
    FeatureRequest.objects.bulk_create([FeatureRequest(title="Bulk", problem="x")])
    bulk = FeatureRequest.objects.get(title="Bulk")
    assert tasks.scores_sweep_task.apply().get() == 2
    assert not score(world["sso"]).stale and not score(bulk).stale


@contextlib.contextmanager
def refresh_lock_held_elsewhere():
    """The sweep/refresh lock, held as another worker would hold it."""
    if connection.vendor != "postgresql":
        cache.add(tasks.LOCK_KEY, "someone", timeout=60)
        try:
            yield
        finally:
            cache.delete(tasks.LOCK_KEY)
        return
    other = connection.get_new_connection(connection.get_connection_params())
    other.autocommit = True
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [tasks.ADVISORY_LOCK_ID])
        yield
    finally:
        other.close()  # like a killed worker: the lock goes with its connection


def test_sweep_and_refresh_skip_while_the_lock_is_held(world):
    with refresh_lock_held_elsewhere():
        assert tasks.scores_sweep_task.apply().get() is None
        assert tasks.scores_refresh_all_task.apply().get() is None
    assert tasks.scores_refresh_all_task.apply().get() == 2
    assert tasks.scores_sweep_task.apply().get() == 0  # released after the refresh
    assert cache.get(tasks.LOCK_KEY) is None


def test_nightly_refresh_moves_urgency_with_the_calendar(world, monkeypatch):
    deal = world["acme_deal"]
    deal.close_date = timezone.localdate() + dt.timedelta(days=200)
    deal.save()
    services.scores_recompute()
    before = score(world["sso"]).revenue_exposure
    later = timezone.localdate() + dt.timedelta(days=150)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: later)
    tasks.scores_refresh_all_task.apply().get()
    assert score(world["sso"]).revenue_exposure > before
    assert last_cause(world["sso"]) == tasks.NIGHTLY_CAUSE


def test_beat_schedule_sweeps_every_minute_and_refreshes_nightly(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["scores-sweep-stale"]["task"] == "strategy.scores_sweep"
    assert schedule["scores-sweep-stale"]["schedule"] == 60.0
    assert schedule["scores-refresh-nightly"]["task"] == "strategy.scores_refresh_all"


# --- commands ------------------------------------------------------------------------------------


def test_recompute_scores_command(world, capsys):
    RequestScore.objects.update(stale=True)
    call_command("recompute_scores")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out == {"recomputed": 2, "stale_left": 0, "all": False}
    call_command("recompute_scores", "--all")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["recomputed"] == 2 and out["all"] is True


def test_explain_score_command(world, capsys):
    call_command("explain_score", str(world["sso"].pk))
    out = capsys.readouterr().out
    assert "SSO" in out and "Strategic fit" in out and "Acme renewal" in out
    assert "Enterprise" in out and "policy v1" in out


def test_explain_score_unknown_request(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No request #424242"):
        call_command("explain_score", "424242")


def test_audited_conditional_updates_mark_scores_too(
    world, product_user, django_capture_on_commit_callbacks
):
    # A service changing effort or merging with QuerySet.update() sends no post_save, but audits.
    from requests_app.services import audit_record

    sso, export = world["sso"], world["export"]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        FeatureRequest.objects.filter(pk=sso.pk, version=1).update(effort=20, version=2)
        audit_record(
            actor=product_user,
            verb="request.effort_set",
            obj=sso,
            before={"effort": None},
            after={"effort": 20},
        )
    assert score(sso).effort_factor == pytest.approx(0.5)
    assert last_cause(sso) == "effort unknown → 20 points"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        FeatureRequest.objects.filter(pk=export.pk).update(status="merged", merged_into=sso)
        export.asks.update(request=sso)
        audit_record(
            actor=product_user,
            verb="request.merged",
            obj=export,
            before={"status": "new", "merged_into": None},
            after={"status": "merged", "merged_into": sso.pk},
        )
    assert score(export).total == 0 and not score(export).stale
    assert score(sso).accounts_count == 2
    assert last_cause(sso) == f"#{export.pk} merged into #{sso.pk}"
