"""What every API endpoint shares: error responses, pagination, the permission shortcuts."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from requests_app.services import ConflictError

from .roles import ALL_ROLES, HasRole


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def exception_handler(exc, context):
    """DRF's handler, plus: model/service validation errors as field-level 400s, optimistic
    concurrency conflicts and integrity races as 409s. Bad input never becomes a 500."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {
                ("non_field_errors" if name == "__all__" else name): [
                    m for e in errors for m in e.messages
                ]
                for name, errors in exc.error_dict.items()
            }
        else:
            detail = {"non_field_errors": exc.messages}
        exc = ValidationError(detail)
    elif isinstance(exc, ConflictError):
        return Response(
            {"detail": str(exc) or "Someone else changed this; reload and try again."},
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, IntegrityError):
        return Response(
            {"detail": "This conflicts with data that already exists."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


# Anyone with a role may read; only these roles (and superusers) may write.
ReadAny = HasRole.of(read=ALL_ROLES)
SuperuserOnly = HasRole.of()


def writers(*roles: str) -> type[HasRole]:
    """Any role may read; ``roles`` may also write."""
    return HasRole.of(*roles, read=ALL_ROLES)
