"""Sign-in with lockout: repeated failures for one username or from one address lock sign-in for a
while, counted in the shared cache so every web process sees the same counts."""

from __future__ import annotations

import hashlib

from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError

from .env import env_int

MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1)


def _keys(username: str, address: str) -> list[str]:
    # Hashed: a username may hold spaces, control characters or markup, unfit for a cache key.
    name = username.strip().lower()[:150].encode("utf-8", "replace")
    return [
        f"login-fail:user:{hashlib.sha256(name).hexdigest()}",
        f"login-fail:addr:{address[:64]}",
    ]


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def login_is_locked(username: str, address: str) -> bool:
    return any((cache.get(key) or 0) >= MAX_FAILURES for key in _keys(username, address))


def login_failed(username: str, address: str) -> None:
    """Count one failure for the username and for the address; the window restarts on the first."""
    for key in _keys(username, address):
        if not cache.add(key, 1, LOCKOUT_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, LOCKOUT_SECONDS)


def login_succeeded(username: str, address: str) -> None:
    cache.delete(_keys(username, "")[0])


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": "Too many failed sign-ins. Wait 15 minutes and try again, or ask an "
        "administrator to reset your password.",
    }

    def clean(self):
        username = self.data.get("username", "")
        address = _client_address(self.request)
        if login_is_locked(username, address):
            raise ValidationError(self.error_messages["locked"], code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failed(username, address)
            raise
        login_succeeded(username, address)
        return cleaned


class ThrottledLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True
