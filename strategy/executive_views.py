"""Executive pages: the escalation queue, an escalation with both cases, the portfolio, the audit
log. Thin: read through ``executive_selectors``, write through ``escalation_resolve``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from requests_app.models import EscalationOutcome, EscalationStatus
from requests_app.services import ConflictError, escalation_resolve
from triage.roles import EXECUTIVE, role_required
from triage.templatetags.triage_tags import money_short

from . import executive_selectors as selectors
from .executive_charts import bar_chart, stacked_bar_chart
from .executive_forms import AuditFilterForm, ResolveForm

PAGE_SIZE = 50


@require_safe
@role_required(EXECUTIVE)
def escalation_queue(request):
    now = timezone.now()
    filters = selectors.queue_filters_from(request.GET)
    page = Paginator(selectors.escalation_queue(filters=filters, now=now), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "executive/queue.html",
        {
            "page": page,
            "filters": filters,
            "counts": selectors.queue_counts(now=now),
            "options": selectors.queue_filter_options(),
            "outcomes": EscalationOutcome.choices,
            "filtered": bool(filters.rep or filters.theme or filters.outcome),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(EXECUTIVE)
def escalation_detail(request, pk: int):
    case = selectors.escalation_case(pk=pk)
    if case is None:
        raise Http404("No such escalation.")
    escalation = case.escalation
    form = ResolveForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if escalation.status != EscalationStatus.OPEN:
            messages.error(request, "This escalation was already resolved; nothing was changed.")
            return redirect("strategy:escalation", pk=pk)
        if form.is_valid():
            data = form.cleaned_data
            try:
                escalation_resolve(
                    actor=request.user,
                    escalation=escalation,
                    outcome=data["outcome"],
                    rationale=data["rationale"],
                    target_quarter=data["target_quarter"],
                    compromise_terms=data["compromise_terms"],
                    compromise_status=data["compromise_status"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except ConflictError:
                messages.error(
                    request,
                    "Another executive resolved this escalation a moment ago; "
                    "their resolution is shown below.",
                )
                return redirect("strategy:escalation", pk=pk)
            else:
                messages.success(
                    request,
                    "Escalation resolved. The requesters and product have been notified.",
                )
                return redirect("strategy:escalation", pk=pk)
    return render(
        request,
        "executive/escalation.html",
        {"case": case, "e": escalation, "req": case.request, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_safe
@role_required(EXECUTIVE)
def portfolio(request):
    figures = selectors.portfolio()
    single = figures["single_deal"]
    escalations = figures["escalations"]
    charts = {
        "by_theme": bar_chart(
            [(row["label"], row["value"]) for row in figures["pipeline_by_theme"]],
            title="Open pipeline waiting on requests, by theme",
            fmt=money_short,
        ),
        "by_status": bar_chart(
            [(row["label"], row["value"]) for row in figures["pipeline_by_status"]],
            title="Open pipeline waiting on requests, by request status",
            fmt=money_short,
        ),
        "single_trend": bar_chart(
            [(row["quarter"], row["share"] * 100) for row in single["trend"]],
            title="Share of accepted requests flagged single deal, by quarter accepted",
            fmt=lambda v: f"{v:.0f}%",
            color="#c4312b",
        ),
        "outcomes": stacked_bar_chart(
            [(q["quarter"], [c["count"] for c in q["counts"]]) for q in escalations["quarters"]],
            series=[label for _, label in EscalationOutcome.choices],
            title="Resolved escalations by outcome, per quarter",
        ),
    }
    return render(request, "executive/portfolio.html", {"f": figures, "charts": charts})


@require_safe
@role_required(EXECUTIVE)
def audit_log(request):
    options = selectors.audit_filter_options()
    form = AuditFilterForm(request.GET or None, options=options)
    if form.is_bound:
        form.is_valid()
    filters = form.filters()
    page = Paginator(selectors.audit_events(filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "executive/audit.html",
        {"form": form, "page": page, "reset_url": reverse("strategy:audit")},
    )
