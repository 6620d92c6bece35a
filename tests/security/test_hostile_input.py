"""Hostile input through the forms and pages: rejected with a clear message, or stored and shown
escaped. Never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from requests_app.models import Ask, Deal, FeatureRequest, ProductArea
from tests.factories import AccountFactory, DealFactory, FeatureRequestFactory
from triage.auth import _keys

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("owned")</script>'
IMG = '<img src=x onerror="alert(1)">'
SQL = "'; DROP TABLE requests_app_featurerequest; --"
ADDRESS = "10.66.66.66"


@pytest.fixture
def account():
    return AccountFactory(name="Acme Freight")


def _form(acct, /, **overrides):
    data = {
        "title": "Route planning export",
        "problem": "Dispatchers re-key every route by hand.",
        "desired_outcome": "",
        "who_affected": "",
        "product_area": ProductArea.INTEGRATIONS,
        "account": acct.pk,
        "deal": "",
        "importance": "important",
        "note": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("payload", [SCRIPT, IMG, SQL, "{{ request.user.password }}", "{% now %}"])
def test_markup_and_sql_are_stored_as_text_and_rendered_escaped(
    client, sales_user, product_user, account, payload
):
    client.force_login(sales_user)
    response = client.post(
        "/requests/new/",
        _form(account, title=f"T {payload}"[:200], problem=payload, note=payload),
    )
    assert response.status_code == 302, response.content[:500]
    request = FeatureRequest.objects.get(problem=payload)
    assert Ask.objects.get(request=request).note == payload
    for user in (sales_user, product_user):
        client.force_login(user)
        for url in (f"/requests/{request.pk}/", "/requests/mine/", f"/search/?q={payload}"):
            page = client.get(url)
            if url == "/requests/mine/" and user == product_user:
                assert page.status_code == 403
                continue
            assert page.status_code == 200, url
            body = page.content.decode()
            assert "<script>alert" not in body and "<img src=x" not in body, url
    detail = client.get(f"/requests/{request.pk}/").content.decode()
    if payload == SCRIPT:
        assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in detail
    assert FeatureRequest.objects.count() == 1  # the SQL did nothing but get stored


def test_a_title_too_long_is_refused_next_to_the_field_and_the_text_kept(
    client, sales_user, account
):
    client.force_login(sales_user)
    response = client.post("/requests/new/", _form(account, title="x" * 5000, problem="Kept text"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ensure this value has at most 200 characters (it has 5000)." in body
    assert "Kept text" in body
    assert not FeatureRequest.objects.exists()


def test_huge_problem_text_is_stored_and_shown(client, sales_user, account):
    client.force_login(sales_user)
    huge = "Lorem ipsum dolor sit amet. " * 30_000  # 840 kB
    response = client.post("/requests/new/", _form(account, problem=huge))
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        request = FeatureRequest.objects.get()
        assert client.get(f"/requests/{request.pk}/").status_code == 200


def test_a_body_over_the_upload_limit_is_a_400_not_a_500(client, sales_user, account):
    client.force_login(sales_user)
    response = client.post("/requests/new/", _form(account, problem="x" * 3_000_000))
    assert response.status_code == 400
    assert not FeatureRequest.objects.exists()


def test_null_characters_are_refused_with_a_message(client, sales_user, account):
    client.force_login(sales_user)
    response = client.post("/requests/new/", _form(account, title="abc\x00def", note="n\x00"))
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    assert not FeatureRequest.objects.exists()


def test_bytes_that_are_not_utf8_do_not_break_the_form(client, sales_user, account):
    client.force_login(sales_user)
    body = (
        f"title=Caf%E9+%FF%FE&problem=bad+%C3%28+bytes&product_area=integrations"
        f"&account={account.pk}&importance=important"
    ).encode()
    response = client.post("/requests/new/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        request = FeatureRequest.objects.get()
        assert request.title.startswith("Caf")
        assert client.get(f"/requests/{request.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("account", "-1", "That account does not exist any more."),
        ("account", "99999999999999999999999", "That account does not exist any more."),
        ("account", "1; DROP TABLE x", "That account does not exist any more."),
        ("deal", "-5", "That deal is closed or no longer exists."),
        ("deal", "99999999999999999999999", "That deal is closed or no longer exists."),
        ("importance", SCRIPT, "Select a valid choice."),
        ("product_area", SQL, "is not one of the available choices"),
    ],
)
def test_absurd_choices_are_refused_with_a_message(
    client, sales_user, account, field, value, message
):
    client.force_login(sales_user)
    response = client.post("/requests/new/", _form(account, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not FeatureRequest.objects.exists()


@pytest.mark.parametrize(
    ("amount", "close", "message"),
    [
        ("-5", "2030-01-01", "The amount cannot be negative."),
        ("1e20", "2030-01-01", "That amount is too large."),
        ("123456789012345678", "2030-01-01", "That amount is too large."),
        ("NaN", "2030-01-01", "Enter the amount as a number"),
        ("Infinity", "2030-01-01", "Enter the amount as a number"),
        ("12,5", "2030-01-01", "Enter the amount as a number"),
        ("1000", "10000-01-01", "Enter a date, e.g. 2026-12-15."),
        ("1000", "2030-02-30", "Enter a date, e.g. 2026-12-15."),
        ("1000", "2001-01-01", "An open deal cannot close in the past."),
        ("1000", SCRIPT, "Enter a date, e.g. 2026-12-15."),
    ],
)
def test_a_new_deal_with_absurd_amounts_or_dates_is_refused(
    client, sales_user, account, amount, close, message
):
    client.force_login(sales_user)
    response = client.post(
        "/requests/new/",
        _form(
            account,
            new_deal_name="Acme renewal",
            new_deal_amount=amount,
            new_deal_stage="proposal",
            new_deal_close_date=close,
        ),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert "<script>alert" not in body
    assert not FeatureRequest.objects.exists() and not Deal.objects.exists()


def test_a_new_deal_closing_in_9999_is_stored_and_shown(client, sales_user, account):
    client.force_login(sales_user)
    response = client.post(
        "/requests/new/",
        _form(
            account,
            new_deal_name=SCRIPT,
            new_deal_amount="999999999999.99",
            new_deal_stage="negotiation",
            new_deal_close_date="9999-12-31",
        ),
    )
    assert response.status_code == 302
    deal = Deal.objects.get()
    assert (deal.name, str(deal.close_date)) == (SCRIPT, "9999-12-31")
    request = FeatureRequest.objects.get()
    for url in (f"/requests/{request.pk}/", "/deals/mine/", "/requests/mine/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.content.decode(), url


@pytest.mark.parametrize("add_to", ["99999999999999999999999", "-1", "1 OR 1=1", SCRIPT])
def test_adding_evidence_to_a_nonsense_request_number(client, sales_user, account, add_to):
    client.force_login(sales_user)
    response = client.post("/requests/new/", _form(account, add_to=add_to))
    assert response.status_code in (200, 302)
    assert "<script>alert" not in response.content.decode()
    assert not Ask.objects.exists()


def test_far_future_and_huge_deals_render_on_every_page(
    client, sales_user, product_user, exec_user, account
):
    deal = DealFactory(
        account=account,
        owner=sales_user,
        name=SCRIPT,
        amount="999999999999.99",  # the largest amount the column holds
        close_date=dt.date(9999, 12, 31),
    )
    request = FeatureRequestFactory(title=SCRIPT, created_by=sales_user)
    Ask.objects.create(request=request, account=account, deal=deal, note=SQL)
    client.force_login(sales_user)
    for url in ("/requests/new/", "/deals/mine/", "/requests/mine/", f"/requests/{request.pk}/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.content.decode(), url
    assert "Dec 31, 9999" in client.get("/deals/mine/").content.decode()
    assert "$1,000,000,000,000" in client.get(f"/requests/{request.pk}/").content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/requests/99999999999999999999999/",
        "/requests/0/",
        "/search/?q=%00",
        "/search/?q=ok&q=%00",
        "/board/?page=1&%00=1",
        "/search/?q=" + "x" * 10_000,
        "/search/?q=%FF%FE",
        "/search/?q=%25%27%22%5C",
        "/notifications/?page=%00",
        "/requests/new/accounts/?account=99999999999999999999999&account_query=%25",
        "/requests/new/deals/?account=99999999999999999999999",
        "/requests/suggestions/?title=%3Cscript%3E&problem=" + "word+" * 3000,
        "/requests/suggestions/?title=a&exclude=99999999999999999999999",
    ],
)
def test_odd_urls_answer_without_a_500(client, sales_user, url):
    client.force_login(sales_user)
    response = client.get(url)
    assert response.status_code in (200, 400, 403, 404), url
    if "%00" in url:
        assert response.status_code == 400
        assert "not allowed (NUL)" in response.content.decode()


@pytest.mark.parametrize("page", ["abc", "-1", "0", "99999999999999999999", "%00", "1e9"])
def test_board_pages_out_of_range_fall_back(client, product_user, page):
    client.force_login(product_user)
    assert client.get(f"/board/?page={page}").status_code in (200, 400, 404)


@pytest.fixture
def _clean_login_counters():
    names = ["sales", "x" * 150, SCRIPT, SQL, "a\x00b", "Caf\ufffd"]
    keys = [key for name in names for key in _keys(name, ADDRESS)]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        (SCRIPT, SCRIPT, "Please enter a correct username and password."),
        (SQL, "' OR '1'='1", "Please enter a correct username and password."),
        ("x" * 5000, "p", "Please enter a correct username and password."),
        ("a\x00b", "p", "Null characters are not allowed."),
        ("sales", "p" * 100_000, "Please enter a correct username and password."),
    ],
)
def test_login_refuses_hostile_credentials_clearly(
    client, sales_user, _clean_login_counters, username, password, message
):
    response = client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ADDRESS
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert "<script>alert" not in body
    assert "_auth_user_id" not in client.session


def test_login_with_bytes_that_are_not_utf8(client, sales_user, _clean_login_counters):
    response = client.post(
        "/accounts/login/",
        b"username=Caf%E9&password=%FF%FE",
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()
