"""Hostile input through the REST API: refused with field messages (400) or stored as given and
returned as JSON. Never a 500."""

from __future__ import annotations

import json

import pytest

from requests_app.models import Account, Deal, FeatureRequest
from tests.factories import AccountFactory, DealFactory, FeatureRequestFactory

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("owned")</script>'
SQL = "'; DROP TABLE requests_app_deal; --"


@pytest.fixture
def api(client, sales_user):
    client.force_login(sales_user)
    return client


@pytest.fixture
def account():
    return AccountFactory(name="Acme Freight")


def post(client, url, payload):
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    return client.post(url, body, content_type="application/json")


def _deal(acct, /, **overrides):
    return {
        "account": acct.pk,
        "name": "Acme renewal",
        "amount": "120000.00",
        "stage": "proposal",
        "close_date": "2030-06-30",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "1e30"}, "amount"),
        ({"amount": "123456789012345678"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": [1, 2]}, "amount"),
        ({"probability": 1000}, "probability"),
        ({"probability": -1}, "probability"),
        ({"stage": SCRIPT}, "stage"),
        ({"close_date": "10000-01-01"}, "close_date"),
        ({"close_date": "2030-02-30"}, "close_date"),
        ({"close_date": SQL}, "close_date"),
        ({"account": 99999999999999999999999}, "account"),
        ({"account": -1}, "account"),
        ({"account": SQL}, "account"),
        ({"name": "x" * 5000}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"owner": SCRIPT}, "owner"),
    ],
)
def test_bad_deals_are_refused_with_a_message_for_the_field(api, account, overrides, field):
    response = post(api, "/api/v1/deals/", _deal(account, **overrides))
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()
    assert not Deal.objects.exists()


def test_markup_far_dates_and_the_largest_amount_are_stored_as_given(api, account):
    response = post(
        api,
        "/api/v1/deals/",
        _deal(account, name=SCRIPT, amount="999999999999.99", close_date="9999-12-31"),
    )
    assert response.status_code == 201, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
    deal = Deal.objects.get()
    assert (deal.name, str(deal.close_date)) == (SCRIPT, "9999-12-31")
    listed = api.get("/api/v1/deals/?ordering=close_date").json()["results"]
    assert listed[0]["name"] == SCRIPT and listed[0]["close_date"] == "9999-12-31"
    # the page that shows it escapes it
    page = api.get("/deals/mine/")
    assert page.status_code == 200 and "<script>alert" not in page.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"arr": "-1"}, "arr"),
        ({"arr": "1e20"}, "arr"),
        ({"segment": SQL}, "segment"),
        ({"name": "   "}, "name"),
        ({"is_customer": "sometimes"}, "is_customer"),
    ],
)
def test_bad_accounts_are_refused(api, overrides, field):
    response = post(api, "/api/v1/accounts/", {"name": "Borealis", "arr": "100", **overrides})
    assert response.status_code == 400
    assert field in response.json()
    assert not Account.objects.filter(name="Borealis").exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "x" * 5000}, "title"),
        ({"problem": "y" * 30_000}, "problem"),
        ({"problem": "bad\x00byte"}, "problem"),
        ({"product_area": SCRIPT}, "product_area"),
        ({"importance": SQL}, "importance"),
        ({"deal": 99999999999999999999999}, "deal"),
    ],
)
def test_bad_requests_are_refused(api, account, overrides, field):
    payload = {"title": "SSO", "problem": "Logins", "product_area": "security"}
    payload.update(account=account.pk, **overrides)
    response = post(api, "/api/v1/requests/", payload)
    assert response.status_code == 400
    assert field in response.json()
    assert not FeatureRequest.objects.exists()


def test_a_request_with_markup_is_stored_and_shown_escaped(api, account, product_user):
    payload = {"title": SCRIPT, "problem": SQL, "product_area": "security", "account": account.pk}
    response = post(api, "/api/v1/requests/", payload)
    assert response.status_code == 201, response.content[:300]
    request = FeatureRequest.objects.get()
    assert (request.title, request.problem) == (SCRIPT, SQL)
    api.force_login(product_user)
    for url in ("/board/", f"/board/requests/{request.pk}/", f"/requests/{request.pk}/"):
        page = api.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.content.decode(), url


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "caf\xe9"}',
        b"\xff\xfe\x00\x00",
        b'{"name": ',
        b"[]",
        b"null",
        b'"just a string"',
        b'{"account": {"$gt": 0}}',
        json.dumps({"name": "x", "amount": 10**400}).encode(),
    ],
)
def test_bodies_that_are_not_a_deal_are_a_400(api, body):
    response = post(api, "/api/v1/deals/", body)
    assert response.status_code == 400
    assert "detail" in response.json() or response.json()


def test_a_body_over_the_limit_is_refused(api, account):
    response = post(api, "/api/v1/requests/", _deal(account, name="x" * 3_000_000))
    assert response.status_code in (400, 413)


@pytest.mark.parametrize(
    "query",
    [
        "deals/?ordering=" + SCRIPT,
        "deals/?ordering=-amount,%27",
        "deals/?page=-1",
        "deals/?page=99999999999999999999",
        "deals/?account=abc",
        "deals/?account=99999999999999999999999",
        "deals/?owner=" + SQL,
        "deals/?is_open=maybe",
        "accounts/?name=%25%27%22%5C",
        "accounts/?is_customer=2",
        "requests/?status=" + SCRIPT,
        "requests/?theme=-1",
        "requests/?merged_into=99999999999999999999999",
        "requests/99999999999999999999999/",
        "requests/99999999999999999999999/score/",
        "requests/abc/",
        "deals/?name=%00",
    ],
)
def test_hostile_queries_answer_without_a_500(api, query):
    DealFactory()
    FeatureRequestFactory()
    response = api.get(f"/api/v1/{query}")
    assert response.status_code in (200, 400, 404), query
    assert response["Content-Type"].startswith("application/json"), query


def test_token_endpoint_with_hostile_credentials(client):
    for payload in (
        {"username": SCRIPT, "password": SQL},
        {"username": "x" * 10_000, "password": "p"},
        {"username": "a\x00b", "password": "p"},
        {"username": ["list"], "password": {"dict": 1}},
    ):
        response = post(client, "/api/v1/auth/token/", payload)
        assert response.status_code in (400, 429), payload
