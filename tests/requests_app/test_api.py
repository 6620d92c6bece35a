"""REST API: roles on every resource, field names, filters, validation and query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from requests_app.models import Account, AuditEvent, Deal, DealStage
from tests.factories import (
    AccountFactory,
    AskFactory,
    DealFactory,
    DecisionFactory,
    EscalationFactory,
    FeatureRequestFactory,
    UserFactory,
)
from triage.roles import SALES

pytestmark = pytest.mark.django_db

ROLES = ["sales", "product", "exec", "admin"]


@pytest.fixture
def api():
    return APIClient()


def as_user(api, user):
    api.force_authenticate(user=user)
    return api


@pytest.fixture
def data(db):
    account = AccountFactory(name="Acme", external_id="001A")
    deal = DealFactory(account=account, name="Acme renewal", external_id="006A")
    req = FeatureRequestFactory()
    AskFactory(request=req, account=account, deal=deal)
    decision = DecisionFactory(request=req)
    escalation = EscalationFactory(request=req)
    return {
        "account": account,
        "deal": deal,
        "request": req,
        "decision": decision,
        "escalation": escalation,
    }


READ_URLS = [
    "/api/v1/accounts/",
    "/api/v1/deals/",
    "/api/v1/asks/",
    "/api/v1/escalations/",
    "/api/v1/requests/",
    "/api/v1/themes/",
    "/api/v1/alignments/",
]


@pytest.mark.parametrize("url", READ_URLS)
def test_reads_need_a_role(api, users, data, url):
    assert api.get(url).status_code == 401
    assert as_user(api, users["norole"]).get(url).status_code == 403
    for role in ROLES:
        response = as_user(api, users[role]).get(url)
        assert response.status_code == 200, (role, response.content)
        body = response.json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert body["count"] >= 1 or url in ("/api/v1/themes/", "/api/v1/alignments/")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/requests/{req}/",
        "/api/v1/requests/{req}/score/",
        "/api/v1/requests/{req}/decisions/",
        "/api/v1/escalations/{esc}/",
        "/api/v1/deals/{deal}/",
        "/api/v1/accounts/{account}/",
    ],
)
def test_details_need_a_role(api, users, data, url):
    url = url.format(
        req=data["request"].pk,
        esc=data["escalation"].pk,
        deal=data["deal"].pk,
        account=data["account"].pk,
    )
    assert api.get(url).status_code == 401
    assert as_user(api, users["norole"]).get(url).status_code == 403
    for role in ROLES:
        assert as_user(api, users[role]).get(url).status_code == 200, role


def test_field_names_follow_the_design(api, users, data):
    as_user(api, users["sales"])
    account = api.get(f"/api/v1/accounts/{data['account'].pk}/").json()
    assert set(account) == {"id", "name", "segment", "is_customer", "arr", "external_id"}
    deal = api.get(f"/api/v1/deals/{data['deal'].pk}/").json()
    assert set(deal) == {
        "id",
        "account",
        "name",
        "amount",
        "stage",
        "probability",
        "close_date",
        "owner",
        "external_id",
        "is_open",
    }
    assert deal["is_open"] is True and deal["stage"] == "proposal"
    ask = api.get("/api/v1/asks/").json()["results"][0]
    assert set(ask) == {"id", "request", "account", "deal", "importance", "note"}
    decisions = api.get(f"/api/v1/requests/{data['request'].pk}/decisions/").json()
    assert decisions["count"] == 1
    assert decisions["results"][0]["kind"] == "decline"


def test_token_endpoint_and_token_auth(api, sales_user):
    cache.clear()
    response = api.post(
        "/api/v1/auth/token/", {"username": "sales", "password": "demo-pass-123"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=sales_user).key == token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/deals/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/v1/deals/").status_code == 401


def test_token_endpoint_rejects_bad_credentials_and_locks_out(api, sales_user):
    cache.clear()
    for _ in range(5):
        response = api.post(
            "/api/v1/auth/token/", {"username": "sales", "password": "nope"}, format="json"
        )
        assert response.status_code == 400
    response = api.post(
        "/api/v1/auth/token/", {"username": "sales", "password": "demo-pass-123"}, format="json"
    )
    assert response.status_code == 429
    cache.clear()
    assert api.post("/api/v1/auth/token/", ["not", "a", "dict"], format="json").status_code == 400


def test_session_auth_works(client, sales_user, data):
    client.force_login(sales_user)
    assert client.get("/api/v1/deals/").status_code == 200


# --- Accounts and deals ----------------------------------------------------------------------


def test_sales_create_and_edit_accounts_others_cannot(api, users):
    payload = {"name": "Globex", "segment": "enterprise", "is_customer": True, "arr": "250000"}
    for role in ("product", "exec"):
        assert as_user(api, users[role]).post("/api/v1/accounts/", payload).status_code == 403
    response = as_user(api, users["sales"]).post("/api/v1/accounts/", payload, format="json")
    assert response.status_code == 201, response.content
    account = Account.objects.get(name="Globex")
    assert account.arr == Decimal("250000") and response.json()["external_id"] is None
    assert AuditEvent.objects.filter(verb="account.created", object_id=str(account.pk)).exists()
    response = api.patch(f"/api/v1/accounts/{account.pk}/", {"is_customer": False}, format="json")
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.is_customer is False and account.arr == 0


def test_account_validation_is_field_level(api, users):
    as_user(api, users["sales"])
    response = api.post(
        "/api/v1/accounts/", {"name": " ", "segment": "huge", "arr": "-5"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"name", "segment", "arr"}


def test_sales_create_deals_owned_by_themselves(api, users, data):
    as_user(api, users["sales"])
    payload = {
        "account": data["account"].pk,
        "name": "Acme expansion",
        "amount": "1250000.00",
        "stage": "negotiation",
        "close_date": "2026-12-15",
        "external_id": "006B",
    }
    response = api.post("/api/v1/deals/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == "sales" and body["probability"] == 75 and body["is_open"]
    other = UserFactory(username="other", roles=[SALES])
    response = api.post("/api/v1/deals/", {**payload, "external_id": "x", "owner": "other"})
    assert response.status_code == 400 and "owner" in response.json()
    assert other.pk


def test_only_the_owner_edits_a_deal(api, users, data):
    deal = data["deal"]
    as_user(api, users["sales"])
    assert api.patch(f"/api/v1/deals/{deal.pk}/", {"amount": "5"}).status_code == 403
    Deal.objects.filter(pk=deal.pk).update(owner=users["sales"])
    response = api.patch(f"/api/v1/deals/{deal.pk}/", {"stage": "closed_won"}, format="json")
    assert response.status_code == 200
    assert response.json()["probability"] == 100 and response.json()["is_open"] is False
    as_user(api, users["product"])
    assert api.patch(f"/api/v1/deals/{deal.pk}/", {"amount": "5"}).status_code == 403


def test_deal_validation_errors(api, users, data):
    as_user(api, users["sales"])
    response = api.post(
        "/api/v1/deals/",
        {
            "account": 999999,
            "name": "",
            "amount": "-1",
            "stage": "won-ish",
            "probability": 140,
            "close_date": "15/12/2026",
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) >= {
        "account",
        "name",
        "amount",
        "stage",
        "probability",
        "close_date",
    }
    response = api.post(
        "/api/v1/deals/",
        {"account": data["account"].pk, "name": "dup", "stage": "proposal", "external_id": "006A"},
        format="json",
    )
    assert response.status_code == 400 and "external_id" in response.json()


def test_not_json_is_a_400_not_a_500(api, users):
    as_user(api, users["sales"])
    response = api.post("/api/v1/deals/", "{not json", content_type="application/json")
    assert response.status_code == 400
    response = api.post("/api/v1/deals/", [1, 2], format="json")
    assert response.status_code == 400


def test_deal_filters_and_ordering(api, users, data):
    other = DealFactory(name="Zeta", external_id="006Z", stage=DealStage.CLOSED_LOST)
    as_user(api, users["product"])
    body = api.get("/api/v1/deals/?external_id=006Z").json()
    assert [d["id"] for d in body["results"]] == [other.pk]
    body = api.get("/api/v1/deals/?is_open=true").json()
    assert [d["id"] for d in body["results"]] == [data["deal"].pk]
    body = api.get("/api/v1/deals/?ordering=-name").json()
    assert [d["name"] for d in body["results"]] == ["Zeta", "Acme renewal"]
    assert api.get("/api/v1/deals/?stage=nonsense").status_code == 400
    assert api.get("/api/v1/deals/?account=abc").status_code == 400


def test_deal_list_query_count_does_not_grow(api, users, django_assert_max_num_queries):
    for n in range(30):
        DealFactory(owner=users["sales"], external_id=f"q{n}")
    as_user(api, users["product"])
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/deals/?page_size=100")
    assert response.json()["count"] == 30


def test_pagination(api, users):
    for n in range(7):
        AccountFactory(name=f"Account {n:02d}")
    as_user(api, users["sales"])
    body = api.get("/api/v1/accounts/?page_size=5").json()
    assert body["count"] == 7 and len(body["results"]) == 5 and body["next"]
    assert api.get("/api/v1/accounts/?page=99").status_code == 404


# --- Asks ------------------------------------------------------------------------------------


def test_sales_add_asks(api, users, data):
    payload = {
        "request": data["request"].pk,
        "account": data["account"].pk,
        "deal": data["deal"].pk,
        "importance": "blocker",
        "note": "Without it they churn.",
    }
    assert as_user(api, users["product"]).post("/api/v1/asks/", payload).status_code == 403
    response = as_user(api, users["sales"]).post("/api/v1/asks/", payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["importance"] == "blocker"
    wrong_deal = DealFactory()
    response = api.post("/api/v1/asks/", {**payload, "deal": wrong_deal.pk}, format="json")
    assert response.status_code == 400 and "deal" in response.json()
    assert api.get(f"/api/v1/asks/?request={data['request'].pk}").json()["count"] == 2


# --- Escalations -----------------------------------------------------------------------------


def test_escalation_list_filters(api, users, data):
    as_user(api, users["exec"])
    body = api.get("/api/v1/escalations/?status=open").json()
    assert [e["id"] for e in body["results"]] == [data["escalation"].pk]
    assert api.get("/api/v1/escalations/?status=resolved").json()["count"] == 0


def test_escalation_writes_need_the_right_role(api, users, data):
    url = f"/api/v1/escalations/{data['escalation'].pk}/resolve/"
    payload = {"outcome": "uphold", "rationale": "Off strategy."}
    for role in ("sales", "product"):
        assert as_user(api, users[role]).post(url, payload).status_code == 403
    payload = {"request": data["request"].pk, "business_case": "x", "outcome_requested": "y"}
    for role in ("product", "exec"):
        assert as_user(api, users[role]).post("/api/v1/escalations/", payload).status_code == 403


def test_decision_post_needs_product(api, users, data):
    url = f"/api/v1/requests/{data['request'].pk}/decisions/"
    payload = {"kind": "decline", "rationale": "No."}
    for role in ("sales", "exec"):
        assert as_user(api, users[role]).post(url, payload).status_code == 403
    response = as_user(api, users["product"]).post(url, {"kind": "maybe"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"kind", "rationale"}
    assert api.get("/api/v1/requests/999999/decisions/").status_code == 404


# --- Webhook subscriptions -------------------------------------------------------------------


def test_webhook_subscriptions_are_for_superusers(api, users):
    payload = {
        "url": "http://127.0.0.1:9/hook",
        "events": ["request.created", "decision.recorded"],
        "secret": "s" * 32,
    }
    for role in ("sales", "product", "exec"):
        client = as_user(api, users[role])
        assert client.get("/api/v1/webhooks/").status_code == 403
        assert client.post("/api/v1/webhooks/", payload, format="json").status_code == 403
    as_user(api, users["admin"])
    response = api.post("/api/v1/webhooks/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert "secret" not in body and body["events"] == ["decision.recorded", "request.created"]
    bad = api.post(
        "/api/v1/webhooks/",
        {"url": "ftp://x", "events": ["nope"], "secret": "short"},
        format="json",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"url", "events", "secret"}
    deliveries = api.get(f"/api/v1/webhooks/{body['id']}/deliveries/")
    assert deliveries.status_code == 200 and deliveries.json()["count"] == 0


def test_dates_are_iso(api, users, data):
    data["deal"].close_date = dt.date(2026, 12, 15)
    data["deal"].save()
    as_user(api, users["sales"])
    assert api.get(f"/api/v1/deals/{data['deal'].pk}/").json()["close_date"] == "2026-12-15"


# --- Writes through the board's and the executives' services ---------------------------------


def test_product_records_a_decision_and_the_status_follows(api, users, data):
    req = data["request"]
    url = f"/api/v1/requests/{req.pk}/decisions/"
    as_user(api, users["product"])
    missing = api.post(url, {"kind": "accept", "rationale": "Yes."})
    assert missing.status_code == 400 and "target_quarter" in missing.json()
    response = api.post(
        url,
        {
            "kind": "accept",
            "rationale": "Serves the enterprise theme.",
            "target_quarter": "2027-Q1",
            "expected_version": req.version,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["decided_by"] == "product" and body["target_quarter"] == "2027-Q1"
    req.refresh_from_db()
    assert req.status == "accepted"
    stale = api.post(
        url, {"kind": "decline", "rationale": "Changed my mind.", "expected_version": 1}
    )
    assert stale.status_code == 409
    listed = api.get(url).json()
    assert listed["count"] == 2 and listed["results"][0]["kind"] == "accept"


def test_executive_resolves_an_escalation(api, users, data):
    esc = data["escalation"]
    url = f"/api/v1/escalations/{esc.pk}/resolve/"
    as_user(api, users["exec"])
    bad = api.post(url, {"outcome": "overturn", "rationale": "Strategic account."})
    assert bad.status_code == 400 and "target_quarter" in bad.json()
    response = api.post(
        url,
        {"outcome": "overturn", "rationale": "Strategic account.", "target_quarter": "2027-Q2"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "resolved" and body["outcome"] == "overturn"
    assert body["resolved_by"] == "exec"
    again = api.post(url, {"outcome": "uphold", "rationale": "Again."})
    assert again.status_code == 409
    assert api.get("/api/v1/escalations/?status=resolved").json()["count"] == 1
