"""Project-wide middleware: Content Security Policy and database failure pages."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    """Adds the ``Content-Security-Policy`` header from ``settings.CONTENT_SECURITY_POLICY``.

    The policy allows this origin only: no CDN, no inline script. The interactive API docs
    (Swagger UI, served from the sidecar package with its start-up script as a separate file)
    inject their own <style> elements, so that one page allows inline styles.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            if request.path.startswith("/api/docs"):
                policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
            response["Content-Security-Policy"] = policy
        return response


class DatabaseUnavailableMiddleware:
    """Turns database failures into clear responses instead of 500 pages.

    A lost connection becomes 503 ("try again in a moment"); a constraint violation that slipped
    past validation becomes 409. The transaction of the request was rolled back, so nothing was
    half written.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, IntegrityError):
            status, title = 409, "That change conflicts with data that already exists."
        elif isinstance(exception, (OperationalError, InterfaceError)) or (
            isinstance(exception, DatabaseError) and "connection" in str(exception).lower()
        ):
            status, title = 503, "Triage cannot reach its database right now."
        else:
            return None
        logger.warning("database error on %s: %s", request.path, exception)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": title}, status=status)
        detail = "Nothing was half-saved: the change you made was not stored. Please try again."
        # Rendered without the request: the context processors read the session user's
        # notifications, and the connection they would use may be the one that just died.
        html = render_to_string("errors/plain.html", {"title": title, "detail": detail})
        return HttpResponse(html, status=status)


class NullCharacterQueryMiddleware:
    """Answers 400 when the query string carries a NUL character.

    PostgreSQL cannot store or compare text containing NUL, so a ``?q=%00`` reaching a filter
    would fail deep in the database driver. Form and API bodies are checked by their fields
    (Django and DRF refuse NUL with "Null characters are not allowed."); this covers the
    query string of every page and endpoint.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            title = "The address contains a character that is not allowed (NUL)."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": title}, status=400)
            html = render_to_string(
                "errors/plain.html",
                {"title": title, "detail": "Check the link or the search text and try again."},
            )
            return HttpResponse(html, status=400)
        return self.get_response(request)
