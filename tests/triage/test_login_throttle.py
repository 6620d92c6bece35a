from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from triage.auth import MAX_FAILURES, _keys

pytestmark = pytest.mark.django_db

USERNAMES = ["sales", "product"] + [f"guess{n}" for n in range(MAX_FAILURES)]
ADDRESSES = ["10.0.0.1", "10.9.9.9", "10.1.1.1"] + [f"10.0.0.{n}" for n in range(2, 6)]


@pytest.fixture(autouse=True)
def _reset_counters():
    """Delete only this module's counters: the cache may be the shared Redis."""
    keys = [key for u in USERNAMES for a in ADDRESSES for key in _keys(u, a)]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def _post(client, username, password, address="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_lockout_after_repeated_failures_even_with_the_right_password(client, sales_user):
    for _ in range(MAX_FAILURES):
        assert _post(client, "sales", "wrong").status_code == 200
    response = _post(client, "sales", "demo-pass-123")
    assert response.status_code == 200
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_address_is_locked_across_usernames(client, sales_user, product_user):
    for n in range(MAX_FAILURES):
        _post(client, f"guess{n}", "wrong", address="10.9.9.9")
    response = _post(client, "product", "demo-pass-123", address="10.9.9.9")
    assert b"Too many failed sign-ins" in response.content
    # another address still signs in
    assert _post(client, "product", "demo-pass-123", address="10.1.1.1").status_code == 302


def test_success_resets_the_username_count(client, sales_user):
    for _ in range(MAX_FAILURES - 1):
        _post(client, "sales", "wrong", address="10.0.0.2")
    assert _post(client, "sales", "demo-pass-123", address="10.0.0.3").status_code == 302
    client.logout()
    _post(client, "sales", "wrong", address="10.0.0.4")
    assert _post(client, "sales", "demo-pass-123", address="10.0.0.5").status_code == 302
