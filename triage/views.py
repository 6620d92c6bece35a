from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render

from .roles import home_url_for, user_roles


@login_required
def home(request):
    """Each role lands on its own page."""
    return redirect(home_url_for(request.user))


@login_required
def no_role(request):
    if user_roles(request.user) or request.user.is_superuser:
        return redirect("home")
    return render(request, "no_role.html", status=403)


def healthz(request):
    """Liveness and database reachability, for load balancers and compose health checks."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
