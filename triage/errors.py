"""Error pages in the product's own layout (JSON under /api/)."""

from django.http import JsonResponse
from django.shortcuts import render


def _respond(request, status: int, title: str, detail: str, template: str = "errors/error.html"):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": title}, status=status)
    return render(request, template, {"title": title, "detail": detail}, status=status)


def permission_denied(request, exception=None):
    return _respond(
        request,
        403,
        "You do not have access to this page.",
        "Your role does not include it. Ask an administrator if you need access.",
    )


def not_found(request, exception=None):
    return _respond(
        request, 404, "Page not found.", "The link may be old, or the item was removed."
    )


def server_error(request):
    return _respond(
        request,
        500,
        "Something went wrong on our side.",
        "The error was logged. Nothing you submitted was half-saved; please try again.",
        # No base layout: it reads the session and notifications, which may be what failed.
        template="errors/plain.html",
    )
