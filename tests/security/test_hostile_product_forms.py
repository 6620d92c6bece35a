"""Hostile input through the product manager's forms: decisions, efforts, themes, policy, merges
and board filters. Rejected with a message (400 with the form) or stored and shown escaped."""

from __future__ import annotations

import pytest

from requests_app.models import Decision, FeatureRequest
from strategy.models import ScoringPolicy, StrategicTheme
from tests.factories import FeatureRequestFactory

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("owned")</script>'
SQL = "'; DROP TABLE strategy_strategictheme; --"


@pytest.fixture
def fr(sales_user):
    return FeatureRequestFactory(title="Route planning export", created_by=sales_user)


@pytest.fixture
def pm(client, product_user):
    client.force_login(product_user)
    return client


def _no_raw_markup(response) -> str:
    body = response.content.decode()
    assert "<script>alert" not in body
    return body


def test_a_decision_with_markup_and_a_far_date_is_stored_and_shown_escaped(pm, fr, sales_user):
    response = pm.post(
        f"/board/requests/{fr.pk}/decide/",
        {"kind": "defer", "rationale": SCRIPT, "revisit_on": "9999-12-31", "version": fr.version},
    )
    assert response.status_code == 302
    decision = Decision.objects.get(request=fr)
    assert decision.rationale == SCRIPT
    assert str(decision.revisit_on) == "9999-12-31"
    body = _no_raw_markup(pm.get(f"/board/requests/{fr.pk}/"))
    assert "&lt;script&gt;" in body
    pm.force_login(sales_user)
    assert "&lt;script&gt;" in _no_raw_markup(pm.get(f"/requests/{fr.pk}/"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "defer", "revisit_on": "10000-01-01"}, "Enter a valid date."),
        ({"kind": "defer", "revisit_on": "0000-00-00"}, "Enter a valid date."),
        ({"kind": SCRIPT}, "Select a valid choice."),
        ({"kind": "accept", "target_quarter": SQL}, "at most 7 characters"),
        ({"kind": "decline", "rationale": "x" * 5000}, "at most 4000 characters"),
        ({"kind": "decline", "version": "-1; DROP"}, ""),  # a tampered hidden field
    ],
)
def test_bad_decisions_are_refused_with_a_message(pm, fr, data, message):
    payload = {"rationale": "Because.", "version": fr.version, **data}
    response = pm.post(f"/board/requests/{fr.pk}/decide/", payload)
    assert response.status_code == 400
    assert message in _no_raw_markup(response)
    assert not Decision.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("effort", "-5", "Ensure this value is greater than or equal to"),
        ("effort", "99999999999999999999", "Ensure this value is less than or equal to"),
        ("effort", "1e3", "Enter a whole number."),
        ("rice_effort_months", "1e30", "Ensure that there are no more than"),
        ("rice_effort_months", "NaN", "Enter a number."),
        ("rice_reach", "-1", "Ensure this value is greater than or equal to 0."),
        ("wsjf_job_size", "4", "Select a valid choice."),
    ],
)
def test_absurd_efforts_and_ranking_inputs_are_refused(pm, fr, field, value, message):
    response = pm.post(f"/board/requests/{fr.pk}/inputs/", {field: value, "version": fr.version})
    assert response.status_code == 400
    assert message in _no_raw_markup(response)
    fr.refresh_from_db()
    assert fr.effort is None and fr.rice_effort_months is None


@pytest.mark.parametrize("target", ["999999999999999999999", "-3", "0", "abc"])
def test_merging_into_nonsense_is_refused(pm, fr, target):
    response = pm.post(f"/board/requests/{fr.pk}/merge/", {"target": target})
    assert response.status_code in (302, 400)
    fr.refresh_from_db()
    assert fr.merged_into_id is None


def test_a_theme_named_with_markup_is_stored_and_shown_escaped(pm):
    response = pm.post(
        "/strategy/themes/new/",
        {"name": SCRIPT, "description": SQL, "weight": 30, "horizon": "year", "active": "on"},
    )
    assert response.status_code == 302
    assert StrategicTheme.objects.filter(name=SCRIPT, description=SQL).exists()
    assert "&lt;script&gt;" in _no_raw_markup(pm.get("/strategy/"))


@pytest.mark.parametrize("weight", ["1000", "-1", "1e400", "NaN", SCRIPT])
def test_theme_weights_out_of_range_are_refused(pm, weight):
    response = pm.post(
        "/strategy/themes/new/", {"name": "Reach", "weight": weight, "horizon": "year"}
    )
    assert response.status_code == 400
    _no_raw_markup(response)
    assert not StrategicTheme.objects.filter(name="Reach").exists()


@pytest.mark.parametrize("value", ["NaN", "inf", "-inf", "1e400", "-5", SCRIPT])
@pytest.mark.parametrize("url", ["/strategy/whatif/", "/strategy/policy/"])
def test_policy_weights_that_are_not_finite_are_refused(pm, fr, url, value):
    versions = ScoringPolicy.objects.count()
    data = {
        "weight_strategic": value,
        "weight_breadth": "35",
        "weight_revenue": "20",
        "revenue_ref": "250000",
        "effort_ref": "5",
        "reason": SCRIPT,
    }
    response = pm.post(url, data)
    assert response.status_code == 400
    _no_raw_markup(response)
    assert ScoringPolicy.objects.count() == versions


def test_huge_policy_references_do_not_break_the_what_if(pm, fr):
    data = {
        "weight_strategic": "100",
        "weight_breadth": "0",
        "weight_revenue": "0",
        "revenue_ref": "1e300",
        "effort_ref": "1e300",
    }
    assert pm.post("/strategy/whatif/", data).status_code in (200, 400)


@pytest.mark.parametrize(
    "query",
    [
        f"q={SCRIPT}",
        f"q={SQL}",
        "q=" + "x" * 5000,
        "sort=nonsense",
        "status=%FF%FE",
        "theme=-1",
        "theme=99999999999999999999999",
        "page=-1",
        "product_area=<b>",
    ],
)
def test_board_filters_with_hostile_values(pm, fr, query):
    response = pm.get(f"/board/?{query}")
    assert response.status_code in (200, 400)
    _no_raw_markup(response)
    assert pm.get(f"/board/export.csv?{query}").status_code in (200, 400)


@pytest.mark.parametrize("ids", [["abc"], ["-1"], ["99999999999999999999"], []])
def test_bulk_status_with_bad_ids_is_refused(pm, fr, ids):
    response = pm.post(
        "/board/bulk/", {"ids": ids, "status": "under_review", "rationale": "Triage"}
    )
    assert response.status_code == 400
    assert FeatureRequest.objects.get(pk=fr.pk).status == "new"
