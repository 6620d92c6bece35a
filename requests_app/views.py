from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from triage.roles import EXECUTIVE, PRODUCT, SALES, role_required

from . import selectors, services
from .forms import RequestForm
from .models import Ask, FeatureRequest, Notification


@role_required(SALES)
def my_requests(request):
    rows = selectors.requests_for_rep(user=request.user)
    return render(request, "requests_app/my_requests.html", {"rows": rows})


@role_required(SALES)
def my_deals(request):
    deals = selectors.deals_for_rep(user=request.user)
    return render(request, "requests_app/my_deals.html", {"deals": deals})


@role_required(SALES)
def request_new(request):
    form = RequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            feature_request = services.request_submit(
                actor=request.user,
                title=data["title"],
                problem=data["problem"],
                desired_outcome=data["desired_outcome"],
                who_affected=data["who_affected"],
                product_area=data["product_area"],
                account=data["account"],
                deal=data["deal"],
                importance=data["importance"],
                note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Request recorded. Product will review it.")
            return redirect(feature_request)
    return render(request, "requests_app/request_form.html", {"form": form})


@role_required(SALES, PRODUCT, EXECUTIVE)
def request_detail(request, pk: int):
    feature_request = get_object_or_404(
        FeatureRequest.objects.select_related("created_by", "merged_into"), pk=pk
    )
    asks = Ask.objects.filter(request=feature_request).select_related(
        "account", "deal", "created_by"
    )
    decisions = feature_request.decisions.select_related("decided_by")
    return render(
        request,
        "requests_app/request_detail.html",
        {"req": feature_request, "asks": asks, "decisions": decisions},
    )


@role_required(EXECUTIVE)
def sponsor(request):
    """The sponsor home moved to the escalation queue; old links keep working."""
    return redirect("strategy:escalations")


@login_required
def notifications(request):
    items = request.user.notifications.select_related("request")[:100]
    return render(request, "requests_app/notifications.html", {"items": items})


@require_POST
@login_required
def notifications_mark_read(request):
    Notification.objects.filter(recipient=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("requests_app:notifications")


@role_required(SALES, PRODUCT, EXECUTIVE)
def search(request):
    query = request.GET.get("q", "").strip()[:200]
    results = selectors.requests_search(query=query)[:50] if query else []
    return render(request, "search.html", {"q": query, "results": results})
