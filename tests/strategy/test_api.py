"""REST API for requests (with scores), themes, alignments and the policy."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from requests_app.models import AuditEvent, FeatureRequest, RequestStatus
from strategy.models import RequestScore, StrategicTheme, ThemeAlignment
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    DealFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db

SCORE_FIELDS = {
    "total",
    "value",
    "strategic_fit",
    "customer_breadth",
    "revenue_at_stake",
    "effort_factor",
    "flags",
    "explanation",
    "policy_version",
    "computed_at",
    "stale",
}


@pytest.fixture
def api():
    return APIClient()


def as_user(api, user):
    api.force_authenticate(user=user)
    return api


def test_request_fields_with_a_zero_stale_score_before_the_first_computation(api, users):
    req = FeatureRequestFactory()
    RequestScore.objects.filter(request=req).delete()
    body = as_user(api, users["exec"]).get(f"/api/v1/requests/{req.pk}/").json()
    assert set(body) >= {
        "id",
        "title",
        "problem",
        "desired_outcome",
        "product_area",
        "status",
        "effort",
        "merged_into",
        "created_by",
        "created_at",
        "score",
    }
    assert set(body["score"]) == SCORE_FIELDS
    assert body["score"]["total"] == 0 and body["score"]["stale"] is True
    score = api.get(f"/api/v1/requests/{req.pk}/score/").json()
    assert score == body["score"]


def test_stored_score_is_returned(api, users):
    req = FeatureRequestFactory()
    RequestScore.objects.update_or_create(
        request=req,
        defaults={
            "total": 61.5,
            "strategic_fit": 70,
            "flags": ["single_deal"],
            "explanation": {"policy_version": 1, "total": 61.5},
            "policy_version": 1,
            "stale": False,
        },
    )
    score = as_user(api, users["sales"]).get(f"/api/v1/requests/{req.pk}/score/").json()
    assert score["total"] == 61.5 and score["flags"] == ["single_deal"]
    assert score["explanation"]["policy_version"] == 1 and score["stale"] is False


def test_request_list_filters_and_query_count(api, users, django_assert_max_num_queries):
    theme = ThemeFactory()
    aligned = FeatureRequestFactory(status=RequestStatus.UNDER_REVIEW)
    AlignmentFactory(request=aligned, theme=theme, strength=2)
    for _ in range(20):
        FeatureRequestFactory()
    as_user(api, users["product"])
    with django_assert_max_num_queries(6):
        body = api.get("/api/v1/requests/?page_size=100").json()
    assert body["count"] == 21
    assert [r["id"] for r in api.get(f"/api/v1/requests/?theme={theme.pk}").json()["results"]] == [
        aligned.pk
    ]
    body = api.get("/api/v1/requests/?status=under_review&status=declined").json()
    assert [r["id"] for r in body["results"]] == [aligned.pk]
    assert api.get("/api/v1/requests/?status=bogus").status_code == 400
    assert api.get("/api/v1/requests/?ordering=-score__total").status_code == 200


def test_sales_submit_requests(api, users):
    account = AccountFactory()
    deal = DealFactory(account=account)
    payload = {
        "title": "Bulk export",
        "problem": "They copy rows by hand every Friday.",
        "product_area": "reporting",
        "account": account.pk,
        "deal": deal.pk,
        "importance": "critical",
    }
    for role in ("product", "exec"):
        assert as_user(api, users[role]).post("/api/v1/requests/", payload).status_code == 403
    response = as_user(api, users["sales"]).post("/api/v1/requests/", payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created_by"] == "sales" and body["status"] == "new"
    assert FeatureRequest.objects.get(pk=body["id"]).asks.get().importance == "critical"
    response = api.post("/api/v1/requests/", {**payload, "deal": DealFactory().pk})
    assert response.status_code == 400 and "deal" in response.json()
    response = api.post("/api/v1/requests/", {"product_area": "nowhere"})
    assert response.status_code == 400
    assert set(response.json()) == {"title", "problem", "product_area", "account"}


def test_product_sets_effort_with_version_check(api, users):
    req = FeatureRequestFactory()
    url = f"/api/v1/requests/{req.pk}/"
    for role in ("sales", "exec"):
        assert as_user(api, users[role]).patch(url, {"effort": 5}).status_code == 403
    as_user(api, users["product"])
    response = api.patch(url, {"effort": 8, "expected_version": req.version})
    assert response.status_code == 200, response.content
    assert response.json()["effort"] == 8
    stale = api.patch(url, {"effort": 3, "expected_version": req.version})
    assert stale.status_code == 409
    assert api.patch(url, {"effort": 0}).status_code == 400
    assert api.put(url, {"effort": 3}).status_code == 403  # no full replacement of a request
    as_user(api, users["admin"])
    assert api.put(url, {"effort": 3}).status_code == 405


def test_themes(api, users):
    payload = {"name": "Enterprise readiness", "weight": 30, "horizon": "year"}
    for role in ("sales", "exec"):
        assert as_user(api, users[role]).post("/api/v1/themes/", payload).status_code == 403
    response = as_user(api, users["product"]).post("/api/v1/themes/", payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "name", "description", "weight", "horizon", "active"}
    response = api.patch(f"/api/v1/themes/{body['id']}/", {"weight": 50})
    assert response.status_code == 200 and response.json()["weight"] == 50
    assert AuditEvent.objects.filter(verb="theme.updated").exists()
    duplicate = api.post("/api/v1/themes/", payload)
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    bad = api.post("/api/v1/themes/", {"name": "x", "weight": 101, "horizon": "decade"})
    assert bad.status_code == 400 and set(bad.json()) == {"weight", "horizon"}
    assert as_user(api, users["sales"]).get("/api/v1/themes/?active=true").json()["count"] == 1


def test_alignments(api, users):
    req = FeatureRequestFactory()
    theme = ThemeFactory()
    payload = {"request": req.pk, "theme": theme.pk, "strength": 3}
    assert as_user(api, users["sales"]).post("/api/v1/alignments/", payload).status_code == 403
    as_user(api, users["product"])
    response = api.post("/api/v1/alignments/", payload)
    assert response.status_code == 200, response.content
    assert response.json()["strength"] == 3
    response = api.post("/api/v1/alignments/", {**payload, "strength": 1})
    assert response.status_code == 200
    assert ThemeAlignment.objects.get(request=req, theme=theme).strength == 1
    assert api.post("/api/v1/alignments/", {**payload, "strength": 0}).status_code == 204
    assert not ThemeAlignment.objects.exists()
    bad = api.post("/api/v1/alignments/", {**payload, "strength": 7, "theme": 99999})
    assert bad.status_code == 400 and set(bad.json()) == {"strength", "theme"}
    assert api.get(f"/api/v1/alignments/?request={req.pk}").json()["count"] == 0


def test_policy(api, users):
    for role in ("sales", "product", "exec"):
        response = as_user(api, users[role]).get("/api/v1/policy/")
        assert response.status_code == 200
    body = response.json()
    assert body["version"] >= 1 and body["weight_strategic"] == 0.45
    assert (
        as_user(api, users["sales"])
        .patch("/api/v1/policy/", {"reason": "x", "weight_revenue": 0.3})
        .status_code
        == 403
    )
    as_user(api, users["product"])
    response = api.patch(
        "/api/v1/policy/", {"reason": "Revenue counts more", "weight_revenue": 0.3}
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == body["version"] + 1
    assert response.json()["weight_revenue"] == 0.3
    assert api.get("/api/v1/policy/").json()["version"] == body["version"] + 1
    bad = api.patch("/api/v1/policy/", {"weight_revenue": -1})
    assert bad.status_code == 400 and set(bad.json()) == {"reason", "weight_revenue"}


def test_reads_need_a_role(api, users):
    for url in ("/api/v1/policy/", "/api/v1/themes/", "/api/v1/requests/"):
        api.force_authenticate(user=None)
        assert api.get(url).status_code == 401
        assert as_user(api, users["norole"]).get(url).status_code == 403


def test_theme_model_is_used(api, users):
    ThemeFactory(name="Compliance", active=False)
    as_user(api, users["product"])
    assert api.get("/api/v1/themes/?active=false").json()["results"][0]["name"] == "Compliance"
    assert StrategicTheme.objects.count() == 1
