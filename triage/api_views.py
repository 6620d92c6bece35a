"""The API's token endpoint."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from .auth import login_failed, login_is_locked, login_succeeded


def _printable(value) -> str:
    """A submitted username as a lockout key: printable text only, no whitespace."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable() and not c.isspace())[:150]


class TokenView(ObtainAuthToken):
    """``POST auth/token/`` with ``username`` and ``password`` returns ``{"token": ...}``.

    Subject to the same lockout as the sign-in page: repeated failures for a username or from an
    address get 429 until the lockout ends."""

    parser_classes = [JSONParser, FormParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            400: OpenApiResponse(description="Wrong username or password."),
            429: OpenApiResponse(description="Too many failed attempts; wait and retry."),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        data = request.data if isinstance(request.data, dict) else {}
        username = _printable(data.get("username", ""))
        address = request.META.get("REMOTE_ADDR", "") or "unknown"
        if login_is_locked(username, address):
            return Response(
                {"detail": "Too many failed attempts. Wait 15 minutes and try again."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            login_failed(username, address)
            raise ValidationError(serializer.errors)
        login_succeeded(username, address)
        token, _created = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
