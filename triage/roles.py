"""Roles and the permission layer shared by every page and API endpoint.

Roles are Django groups (created by a data migration). Superusers may do everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.mixins import AccessMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from rest_framework.permissions import BasePermission

SALES = "Sales"
PRODUCT = "Product"
EXECUTIVE = "Executive"
ALL_ROLES = (SALES, PRODUCT, EXECUTIVE)


def user_roles(user) -> frozenset[str]:
    """The role names of ``user``, cached on the instance for the rest of the request."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_triage_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._triage_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    """True when ``user`` is active and holds any of ``roles`` (superusers hold them all)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(user_roles(user) & set(roles))


def home_url_for(user) -> str:
    """Each role lands on its own home; a user with several roles gets the first that fits."""
    if has_role(user, PRODUCT) and not user.is_superuser:
        return reverse("strategy:board")
    if has_role(user, EXECUTIVE) and not user.is_superuser:
        return reverse("strategy:escalations")
    if has_role(user, SALES) and not user.is_superuser:
        return reverse("requests_app:my_requests")
    if user.is_superuser:
        return reverse("strategy:board")
    return reverse("no_role")


def role_required(*roles: str) -> Callable:
    """View decorator: anonymous users go to the login page, users without a role get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator


class RoleRequiredMixin(AccessMixin):
    """Class-based-view twin of :func:`role_required`; set ``roles`` on the view."""

    roles: Iterable[str] = ()

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_role(request.user, *self.roles):
            raise PermissionDenied("Your role does not give access to this page.")
        return super().dispatch(request, *args, **kwargs)


class HasRole(BasePermission):
    """DRF permission: ``permission_classes = [HasRole.of(SALES, PRODUCT)]``.

    ``read_roles`` may read (safe methods); ``write_roles`` may also write. Both default to the
    roles given to :meth:`of`.
    """

    read_roles: tuple[str, ...] = ()
    write_roles: tuple[str, ...] = ()
    message = "Your role does not allow this."

    @classmethod
    def of(cls, *roles: str, read: Iterable[str] | None = None) -> type[HasRole]:
        return type(
            "HasRole",
            (cls,),
            {"write_roles": tuple(roles), "read_roles": tuple(read if read is not None else roles)},
        )

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return has_role(request.user, *self.read_roles, *self.write_roles)
        return has_role(request.user, *self.write_roles)
