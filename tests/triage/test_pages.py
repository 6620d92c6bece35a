"""Every page: anonymous → login, wrong role → 403, right role → 200; each role's home."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import EscalationFactory, FeatureRequestFactory

pytestmark = pytest.mark.django_db

ALL = {"sales", "product", "exec", "admin"}
# url name, kwargs factory, roles that may open it (admin = superuser)
PAGES = [
    ("requests_app:my_requests", None, {"sales", "admin"}),
    ("requests_app:my_deals", None, {"sales", "admin"}),
    ("requests_app:request_new", None, {"sales", "admin"}),
    ("requests_app:request_detail", "request", ALL),
    ("strategy:escalations", None, {"exec", "admin"}),
    ("strategy:escalation", "escalation", {"exec", "admin"}),
    ("strategy:portfolio", None, {"exec", "admin"}),
    ("strategy:audit", None, {"exec", "admin"}),
    ("requests_app:search", None, ALL),
    ("requests_app:notifications", None, ALL | {"norole"}),
    ("strategy:board", None, {"product", "admin"}),
    ("strategy:strategy", None, {"product", "admin"}),
]


def _url(name, kwargs):
    if kwargs == "request":
        return reverse(name, args=[FeatureRequestFactory().pk])
    if kwargs == "escalation":
        return reverse(name, args=[EscalationFactory().pk])
    return reverse(name)


@pytest.mark.parametrize(("name", "kwargs", "allowed"), PAGES)
def test_role_matrix(client, users, name, kwargs, allowed):
    url = _url(name, kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    for role, user in users.items():
        client.force_login(user)
        response = client.get(url)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, f"{role} on {url}: {response.status_code}"
        client.logout()


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("sales", "requests_app:my_requests"),
        ("product", "strategy:board"),
        ("exec", "strategy:escalations"),
        ("admin", "strategy:board"),
        ("norole", "no_role"),
    ],
)
def test_login_form_lands_each_role_on_its_home(client, users, role, home):
    response = client.post(
        reverse("login"), {"username": users[role].username, "password": "demo-pass-123"}
    )
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == reverse(home)


def test_old_sponsor_address_leads_to_the_escalation_queue(client, users):
    url = reverse("requests_app:sponsor")
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(users["sales"])
    assert client.get(url).status_code == 403
    client.force_login(users["exec"])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("strategy:escalations")


def test_wrong_password_shows_error_and_keeps_username(client, users):
    response = client.post(reverse("login"), {"username": "sales", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert b'value="sales"' in response.content


def test_403_page_uses_the_layout(client, users):
    client.force_login(users["sales"])
    response = client.get(reverse("strategy:board"))
    assert response.status_code == 403
    assert b"You do not have access to this page." in response.content


def test_security_headers(client, users):
    client.force_login(users["sales"])
    response = client.get(reverse("requests_app:my_requests"))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_logout_requires_post(client, users):
    client.force_login(users["sales"])
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302


def test_new_request_form_keeps_input_and_shows_field_errors(client, users):
    client.force_login(users["sales"])
    response = client.post(reverse("requests_app:request_new"), {"title": "Bulk export"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Describe the customer&#x27;s problem in a sentence or two." in body
    assert "Pick the account that needs this." in body
    assert 'value="Bulk export"' in body


def test_request_page_when_the_submitter_was_deleted(client, users):
    request = FeatureRequestFactory()
    request.created_by.delete()  # SET_NULL: the request stays, without a submitter
    client.force_login(users["product"])
    response = client.get(reverse("requests_app:request_detail", args=[request.pk]))
    assert response.status_code == 200
    assert "submitted by —" in response.content.decode()
