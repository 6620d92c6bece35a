"""Each demo role signs in through the form and lands on its own page."""

from __future__ import annotations

import pytest

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("role", "path", "heading"),
    [
        ("sales", "/requests/mine/", "My requests"),
        ("product", "/board/", "Triage board"),
        ("exec", "/escalations/", "Escalations"),
    ],
)
def test_role_lands_on_its_home(page, screenshot, users, role, path, heading):
    page.goto("/")
    assert page.get_by_role("heading", name="Sign in to Triage").is_visible()
    login(page, role)
    assert page.url.endswith(path)
    assert page.get_by_role("heading", name=heading, level=1).is_visible()
    screenshot(f"login-{role}-home")


def test_wrong_password_is_explained(page, screenshot, users):
    login(page, "sales", "wrong")
    assert page.get_by_text("Please enter a correct username and password").is_visible()
    screenshot("login-error")
