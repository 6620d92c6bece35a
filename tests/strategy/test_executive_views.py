"""Executive pages: what they show, the resolve form, permissions and query counts."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import (
    AuditEvent,
    DealStage,
    DecisionKind,
    Escalation,
    EscalationStatus,
    RequestStatus,
)
from strategy.executive_charts import bar_chart, stacked_bar_chart
from strategy.models import RequestScore
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    DecisionFactory,
    EscalationFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db

EXPLANATION = {
    "policy_version": 1,
    "computed_at": "2026-11-27T10:00:00+00:00",
    "value": 21.0,
    "total": 18.2,
    "flags": ["single_deal"],
    "flag_reasons": {"single_deal": "Acme renewal supplies 100% of the revenue at stake."},
    "components": {
        "strategic_fit": {
            "score": 6.0,
            "weight": 0.45,
            "contribution": 2.7,
            "summary": "No theme above weak.",
            "themes": [],
        },
        "customer_breadth": {
            "score": 2.0,
            "weight": 0.35,
            "contribution": 0.7,
            "summary": "1 of 412 customers, 0.3% of ARR.",
            "customers": 1,
            "customers_total": 412,
            "reach": 0.0024,
            "arr": 120000,
            "arr_total": 40000000,
            "arr_share": 0.003,
            "accounts": [],
        },
        "revenue_at_stake": {
            "score": 88.0,
            "weight": 0.2,
            "contribution": 17.6,
            "summary": "Acme renewal $1,200,000 (negotiation, closes Dec 15) supplies 100%.",
            "exposure": 900000,
            "open_pipeline": 1200000,
            "deals": [],
        },
        "effort": {"effort": 13, "factor": 0.62, "summary": "13 points: factor 0.62."},
    },
}


@pytest.fixture
def case(sales_user, product_user):
    request = FeatureRequestFactory(
        title="Custom PDF invoice layout",
        created_by=sales_user,
        status=RequestStatus.DECLINED,
        effort=13,
    )
    account = AccountFactory(name="Acme Corp", arr=Decimal("120000"))
    deal = DealFactory(
        account=account,
        name="Acme renewal",
        amount=Decimal("1200000"),
        stage=DealStage.NEGOTIATION,
        probability=75,
        close_date=dt.date(2026, 12, 15),
        owner=sales_user,
    )
    AskFactory(
        request=request,
        account=account,
        deal=deal,
        created_by=sales_user,
        note="Without it Acme churns.",
    )
    AlignmentFactory(request=request, theme=ThemeFactory(name="Enterprise", weight=30), strength=1)
    decision = DecisionFactory(
        request=request,
        kind=DecisionKind.DECLINE,
        decided_by=product_user,
        rationale="Serves one customer; off the 2027 themes.",
    )
    escalation = EscalationFactory(
        request=request,
        raised_by=sales_user,
        contested_decision=decision,
        business_case="Acme renewal depends on it.",
        outcome_requested="Build it by Q1.",
        due_at=timezone.now() - dt.timedelta(days=2),
    )
    escalation.deals.add(deal)
    return escalation


def _score(request, total, **kw):
    values = {"total": total, "stale": False, "computed_at": timezone.now(), **kw}
    return RequestScore.objects.update_or_create(request=request, defaults=values)[0]


def test_queue_lists_open_escalations_with_overdue_and_money(client, exec_user, case):
    EscalationFactory(request__title="Later one", due_at=timezone.now() + dt.timedelta(days=4))
    client.force_login(exec_user)
    response = client.get(reverse("strategy:escalations"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "1 overdue" in body
    assert body.index("Custom PDF invoice layout") < body.index("Later one")
    assert "$1,200,000" in body
    assert 'class="overdue"' in body
    assert reverse("strategy:escalation", args=[case.pk]) in body


def test_queue_survives_bad_filters(client, exec_user, case):
    client.force_login(exec_user)
    for query in ["?rep=x&theme=abc&outcome=<b>", "?tab=resolved&page=999", "?page=-1"]:
        assert client.get(reverse("strategy:escalations") + query).status_code == 200
    # A NUL character in the query string is refused as a bad request, never a server error.
    assert client.get(reverse("strategy:escalations") + "?theme=%00").status_code == 400


def test_queue_filtered_empty_state(client, exec_user, case):
    client.force_login(exec_user)
    body = client.get(reverse("strategy:escalations") + "?theme=999999").content.decode()
    assert "No escalations match these filters." in body


def test_queue_query_count_does_not_grow(client, exec_user, case):
    client.force_login(exec_user)
    url = reverse("strategy:escalations")
    client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(5):
        e = EscalationFactory()
        e.deals.add(DealFactory(), DealFactory())
        AlignmentFactory(request=e.request)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(response.context["page"].object_list) == 6
    assert len(many) == len(few)
    assert len(many) <= 12


def test_escalation_page_shows_both_cases(client, exec_user, case):
    _score(
        case.request,
        18.2,
        strategic_fit=6,
        customer_breadth=2,
        revenue_at_stake=88,
        flags=["single_deal"],
        flag_single_deal=True,
        explanation=EXPLANATION,
        policy_version=1,
        computed_at=timezone.now(),
    )
    above = FeatureRequestFactory(title="SAML single sign-on", status=RequestStatus.UNDER_REVIEW)
    _score(above, 78, open_pipeline=Decimal("1900000"), accounts_count=23)
    below = FeatureRequestFactory(title="Dark mode", status=RequestStatus.NEW)
    _score(below, 5)
    client.force_login(exec_user)
    response = client.get(reverse("strategy:escalation", args=[case.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    # Sales' case
    for text in [
        "Acme renewal",
        "$1,200,000",
        "Negotiation",
        "75%",
        "Dec 15, 2026",
        "2026-Q4",
        "Acme Corp",
        "Acme renewal depends on it.",
        "Build it by Q1.",
        "Without it Acme churns.",
    ]:
        assert text in body, text
    # Product's case
    for text in [
        "Serves one customer; off the 2027 themes.",
        "Priya N",
        "rank <strong>#2</strong> of 3 open requests",
        "No theme above weak.",
        "1 of 412 customers, 0.3% of ARR.",
        "17.6",
        "Enterprise",
        "Weak",
        "13 points",
        "Single deal",
        "Acme renewal supplies 100% of the revenue at stake.",
    ]:
        assert text in body, text
    # What a yes costs
    assert "passes <strong>1 open request</strong>" in body
    assert "SAML single sign-on" in body and "$1,900,000" in body
    assert "Dark mode" not in body
    assert 'name="rationale"' in body


def test_escalation_page_without_a_score_says_so(client, exec_user, case):
    client.force_login(exec_user)
    body = client.get(reverse("strategy:escalation", args=[case.pk])).content.decode()
    assert "Not scored yet" in body
    assert "not scored yet, so its place in the ranking is unknown" in body


def test_escalation_page_query_count_is_fixed(client, exec_user, case):
    _score(case.request, 30, explanation=EXPLANATION)
    client.force_login(exec_user)
    url = reverse("strategy:escalation", args=[case.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(5):
        deal = DealFactory()
        case.deals.add(deal)
        AskFactory(request=case.request, account=deal.account, deal=deal, note=f"quote {i}")
        AlignmentFactory(request=case.request)
        _score(FeatureRequestFactory(status=RequestStatus.NEW), 50 + i)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
    assert len(many) <= 16


def test_unknown_escalation_is_404(client, exec_user):
    client.force_login(exec_user)
    assert client.get(reverse("strategy:escalation", args=[999999])).status_code == 404


def test_resolve_by_form_overturns_and_shows_the_resolution(
    client, exec_user, sales_user, case, django_capture_on_commit_callbacks
):
    client.force_login(exec_user)
    url = reverse("strategy:escalation", args=[case.pk])
    quarter = client.get(url).context["form"].fields["target_quarter"].choices[2][0]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {"outcome": "overturn", "target_quarter": quarter, "rationale": "Acme is strategic."},
        )
    assert response.status_code == 302 and response["Location"] == url
    case.refresh_from_db()
    assert case.status == EscalationStatus.RESOLVED and case.resolved_by == exec_user
    assert case.request.status == RequestStatus.ACCEPTED
    body = client.get(url).content.decode()
    assert "Escalation resolved." in body
    assert "Acme is strategic." in body and quarter in body
    assert 'name="rationale"' not in body  # the form is gone once resolved
    assert sales_user.notifications.filter(verb="escalation.resolved").exists()


def test_resolve_form_errors_sit_next_to_fields_and_keep_input(client, exec_user, case):
    client.force_login(exec_user)
    url = reverse("strategy:escalation", args=[case.pk])
    response = client.post(url, {"outcome": "overturn", "rationale": "Keep this text"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Pick the quarter it ships in." in body
    assert "Keep this text" in body
    assert re.search(r'<input[^>]*value="overturn"[^>]*checked', body)
    response = client.post(url, {"outcome": "compromise", "rationale": " "})
    body = response.content.decode()
    assert "Say why: the requesters and product will read it." in body
    response = client.post(url, {"outcome": "compromise", "rationale": "Meet halfway."})
    body = response.content.decode()
    assert "Describe the compromise in a sentence or two." in body
    assert "Pick the status the request moves to." in body
    response = client.post(url, {})
    assert response.status_code == 400
    assert "Choose uphold, overturn or compromise." in response.content.decode()
    assert Escalation.objects.get().status == EscalationStatus.OPEN


def test_resolving_twice_changes_nothing(client, exec_user, case):
    services.escalation_resolve(actor=exec_user, escalation=case, outcome="uphold", rationale="No.")
    client.force_login(exec_user)
    url = reverse("strategy:escalation", args=[case.pk])
    response = client.post(url, {"outcome": "overturn", "target_quarter": "2030-Q1"}, follow=True)
    assert "already resolved" in response.content.decode()
    case.refresh_from_db()
    assert case.outcome == "uphold"


@pytest.mark.parametrize("role", ["sales", "product", "norole"])
def test_only_executives_may_post_a_resolution(client, users, case, role):
    client.force_login(users[role])
    url = reverse("strategy:escalation", args=[case.pk])
    response = client.post(url, {"outcome": "uphold", "rationale": "Mine."})
    assert response.status_code == 403
    assert Escalation.objects.get().status == EscalationStatus.OPEN


def test_anonymous_post_goes_to_login(client, case):
    url = reverse("strategy:escalation", args=[case.pk])
    response = client.post(url, {"outcome": "uphold", "rationale": "x"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_resolved_tab_lists_outcomes(client, exec_user, case):
    services.escalation_resolve(
        actor=exec_user, escalation=case, outcome="uphold", rationale="Product is right."
    )
    client.force_login(exec_user)
    body = client.get(reverse("strategy:escalations") + "?tab=resolved").content.decode()
    assert "Custom PDF invoice layout" in body and "Uphold" in body
    assert "Product is right." in body
    body = client.get(reverse("strategy:escalations") + "?tab=resolved&outcome=overturn")
    assert "No escalations match these filters." in body.content.decode()


def test_portfolio_page_renders_charts_with_tables(client, exec_user, case):
    waiting = DealFactory(amount=Decimal("300000"))
    AskFactory(request=FeatureRequestFactory(), account=waiting.account, deal=waiting)
    client.force_login(exec_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("strategy:portfolio"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body and "<title" in body and "<table" in body
    assert len(queries) <= 15
    # The contested request is declined: its deal is not waiting on an open request.
    assert response.context["f"]["pipeline_total"] == Decimal("300000")
    assert "$300,000" in body


def test_audit_log_filters_and_paginates(client, exec_user, admin_user, case):
    services.escalation_resolve(
        actor=exec_user,
        escalation=case,
        outcome="overturn",
        rationale="Go.",
        target_quarter="2027-Q1",
    )
    for i in range(55):
        services.account_create(actor=admin_user, name=f"Imported {i}")
    client.force_login(exec_user)
    url = reverse("strategy:audit")
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 58
    assert len(response.context["page"].object_list) == 50
    response = client.get(url, {"verb": "escalation.resolved"})
    events = list(response.context["page"].object_list)
    assert [e.verb for e in events] == ["escalation.resolved"]
    assert "Elena Marsh" in response.content.decode()
    response = client.get(url, {"actor": exec_user.pk})
    assert response.context["page"].paginator.count == 3
    response = client.get(
        url, {"object_type": "requests_app.featurerequest", "object_id": str(case.request_id)}
    )
    assert [e.verb for e in response.context["page"].object_list] == ["request.status_changed"]
    body = response.content.decode()
    assert f'href="{case.request.get_absolute_url()}"' in body  # the object links to its page
    today = timezone.localdate()
    response = client.get(url, {"date_from": str(today + dt.timedelta(days=1))})
    assert response.context["page"].paginator.count == 0
    assert "No events match these filters." in response.content.decode()
    response = client.get(url, {"date_from": str(today), "date_to": str(today)})
    assert response.context["page"].paginator.count == 58


def test_audit_log_bad_input_is_explained_not_a_500(client, admin_user):
    client.force_login(admin_user)
    url = reverse("strategy:audit")
    response = client.get(url, {"date_from": "yesterday", "actor": "abc", "verb": "<x>"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a valid date." in body
    response = client.get(url, {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert "The end date is before the start date." in response.content.decode()


def test_audit_log_is_read_only(client, exec_user):
    client.force_login(exec_user)
    count = AuditEvent.objects.count()
    response = client.post(reverse("strategy:audit"), {"verb": "x"})
    assert response.status_code == 405
    assert AuditEvent.objects.count() == count


def test_bar_chart_escapes_labels_and_summarises():
    svg = bar_chart([("<Ops>", 10), ("B", 30)], title="T & co", fmt=lambda v: f"${v}")
    assert "&lt;Ops&gt;" in svg and "<Ops>" not in svg
    assert "T &amp; co" in svg
    assert "&lt;Ops&gt;: $10; B: $30" in svg
    assert 'width="0.0"' not in svg  # both bars have length
    stacked = stacked_bar_chart([("2026-Q1", [1, 2, 0])], series=["A", "B", "C"], title="S")
    assert "2026-Q1: A 1, B 2, C 0" in stacked


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (0.01, "under an hour"), (0.25, "6 hours"), (1, "1.0 day"), (6.5, "6.5 days")],
)
def test_days_filter(value, text):
    from strategy.templatetags.executive_tags import days

    assert days(value) == text


def test_decided_and_pct_filters():
    from strategy.templatetags.executive_tags import decided, pct

    assert decided("decline") == "Declined" and decided("accept") == "Accepted"
    assert decided("odd_kind") == "Odd kind"
    assert pct(0.425) == "42%" and pct(0.003, 1) == "0.3%" and pct(None) == "—"
