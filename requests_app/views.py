from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from triage.roles import EXECUTIVE, PRODUCT, SALES, role_required

from . import selectors, services
from .forms import OPEN_STAGE_CHOICES, EscalationForm, EvidenceForm, RequestForm
from .models import (
    Account,
    Ask,
    Deal,
    EscalationStatus,
    FeatureRequest,
    Notification,
    RequestStatus,
    Segment,
)


@role_required(SALES)
def my_requests(request):
    status = request.GET.get("status", "")
    if status not in RequestStatus.values:
        status = ""
    my_deals = list(selectors.deals_for_rep_all(user=request.user))
    try:
        deal_id = int(request.GET.get("deal", ""))
    except ValueError:
        deal_id = None
    if deal_id not in {d.pk for d in my_deals}:
        deal_id = None
    rows = selectors.requests_for_rep(user=request.user, status=status, deal_id=deal_id)
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "requests_app/my_requests.html",
        {
            "page": page,
            "rows": page.object_list,
            "open_total": selectors.open_requests_count(),
            "statuses": RequestStatus.choices,
            "status": status,
            "my_deal_options": my_deals,
            "deal_id": deal_id,
            "filtered": bool(status or deal_id),
            "escalatable": services.ESCALATABLE_STATUSES,
        },
    )


@role_required(SALES)
def my_deals(request):
    deals = selectors.deals_for_rep(user=request.user)
    return render(request, "requests_app/my_deals.html", {"deals": deals})


def _form_context(request_form: RequestForm, evidence: EvidenceForm, **extra) -> dict:
    account_id = evidence.selected_account_id()
    account = Account.objects.filter(pk=account_id).first() if account_id else None
    query = evidence.data.get("account_query", "").strip() if evidence.is_bound else ""
    matches = selectors.accounts_search(query=query) if query else []
    deal_id = evidence.data.get("deal", "") if evidence.is_bound else ""
    return {
        "form": request_form,
        "evidence": evidence,
        "picked_account": account,
        "account_matches": matches,
        "account_query": query,
        "deal_options": (selectors.open_deals_of_account(account_id=account.pk) if account else []),
        "picked_deal": str(deal_id),
        "stages": OPEN_STAGE_CHOICES,
        "suggestions": selectors.duplicate_suggestions(
            text=request_form.suggestion_text(), min_share=selectors.SUGGEST_PAGE_MIN_SHARE
        ),
        **extra,
    }


@role_required(SALES)
def request_new(request):
    """File a request, or add the rep's customer to an existing one (``add_to``).

    A valid new request with close matches stops once at a confirm step that shows them again.
    """
    request_form = RequestForm(request.POST or None)
    evidence = EvidenceForm(request.POST or None)
    if request.method == "POST":
        add_to = request.POST.get("add_to", "")
        if add_to:
            target = FeatureRequest.objects.filter(pk=add_to if add_to.isdigit() else 0).first()
            if target is None:
                messages.error(request, "That request no longer exists; file yours as new.")
            elif evidence.is_valid():
                return _intake(request, request_form, evidence, into=target)
            # Only the evidence matters here: keep the problem as typed, without its errors.
            request_form = RequestForm(initial=request.POST.dict())
        elif request_form.is_valid() and evidence.is_valid():
            if not request.POST.get("confirmed"):  # once confirmed, the matches were seen
                context = _form_context(request_form, evidence)
                if context["suggestions"]:
                    context["confirming"] = True
                    return render(request, "requests_app/request_form.html", context)
            return _intake(request, request_form, evidence, into=None)
    return render(request, "requests_app/request_form.html", _form_context(request_form, evidence))


def _intake(request, request_form, evidence, *, into):
    data = evidence.cleaned_data
    try:
        feature_request, ask = services.request_intake(
            actor=request.user,
            into=into,
            fields=None if into is not None else request_form.cleaned_data,
            account=data["account"],
            prospect_name=data["prospect_name"],
            prospect_segment=data["prospect_segment"] or Segment.SMB,
            deal=data["deal"],
            new_deal=evidence.new_deal(),
            importance=data["importance"],
            note=data["note"],
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                target = evidence if field in evidence.fields else request_form
                if field not in target.fields:
                    field = None
                for error in errors:
                    target.add_error(field, error)
        else:
            evidence.add_error(None, exc)
        return render(
            request, "requests_app/request_form.html", _form_context(request_form, evidence)
        )
    if into is None:
        messages.success(request, "Request recorded. Product will review it; you will hear here.")
    else:
        messages.success(
            request, f"{ask.account} added to “{feature_request.title}”. No duplicate was filed."
        )
    return redirect(feature_request)


@role_required(SALES)
def request_suggestions(request):
    """htmx: the closest open requests to what is being typed."""
    text = f"{request.GET.get('title', '')}\n{request.GET.get('problem', '')}".strip()
    try:
        exclude = int(request.GET.get("exclude", "")) or None
    except ValueError:
        exclude = None
    if exclude is not None and not 0 < exclude < 2**63:
        exclude = None  # not an id any row can have
    suggestions = selectors.duplicate_suggestions(
        text=text, exclude_id=exclude, min_share=selectors.SUGGEST_PAGE_MIN_SHARE
    )
    return render(
        request,
        "requests_app/_suggestions.html",
        {"suggestions": suggestions, "typed": bool(text), "can_add": exclude is None},
    )


@role_required(SALES)
def account_options(request):
    """htmx: accounts matching the typed name, as radio options, plus the new-prospect hint."""
    query = request.GET.get("account_query", "").strip()[:100]
    picked = request.GET.get("account", "")
    account = Account.objects.filter(pk=picked).first() if picked.isdigit() else None
    return render(
        request,
        "requests_app/_account_options.html",
        {
            "account_matches": selectors.accounts_search(query=query),
            "account_query": query,
            "picked_account": account,
        },
    )


@role_required(SALES)
def deal_options(request):
    """htmx: the open deals of the picked account."""
    picked = request.GET.get("account", "")
    account = Account.objects.filter(pk=picked).first() if picked.isdigit() else None
    return render(
        request,
        "requests_app/_deal_options.html",
        {
            "picked_account": account,
            "deal_options": (
                selectors.open_deals_of_account(account_id=account.pk) if account else []
            ),
            "picked_deal": request.GET.get("deal", ""),
        },
    )


def _own_request(request, pk: int) -> FeatureRequest:
    feature_request = get_object_or_404(FeatureRequest, pk=pk)
    if not request.user.is_superuser and feature_request.created_by_id != request.user.pk:
        raise PermissionDenied("Only the rep who submitted this request may edit it.")
    return feature_request


@role_required(SALES)
def request_edit(request, pk: int):
    """The submitter rewords their request while it is new (never status, scores or themes)."""
    feature_request = _own_request(request, pk)
    if feature_request.status != RequestStatus.NEW:
        messages.error(
            request, "Product has already picked this request up; it can no longer be edited."
        )
        return redirect(feature_request)
    form = RequestForm(request.POST or None, instance=FeatureRequest.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.request_update(
                actor=request.user,
                request=feature_request,
                **{name: form.cleaned_data[name] for name in services.SALES_EDITABLE_FIELDS},
            )
        except services.ConflictError as exc:
            messages.error(request, str(exc))
            return redirect(feature_request)
        messages.success(request, "Request updated.")
        return redirect(feature_request)
    return render(request, "requests_app/request_edit.html", {"form": form, "req": feature_request})


@role_required(SALES)
def request_escalate(request, pk: int):
    """Contest the decision on a declined or deferred request the rep follows."""
    feature_request = get_object_or_404(FeatureRequest, pk=pk)
    follows = (
        feature_request.created_by_id == request.user.pk
        or feature_request.asks.filter(created_by=request.user).exists()
    )
    if not (follows or request.user.is_superuser):
        raise PermissionDenied("Only reps who asked for this request may escalate it.")
    deals = (
        Deal.objects.filter(asks__request=feature_request, asks__created_by=request.user)
        .open()
        .select_related("account")
        .distinct()
    )
    if request.user.is_superuser:
        deals = (
            Deal.objects.filter(asks__request=feature_request)
            .open()
            .select_related("account")
            .distinct()
        )
    open_escalation = feature_request.escalations.filter(status=EscalationStatus.OPEN).first()
    blocked = ""
    if open_escalation is not None:
        blocked = "This request already has an open escalation; executives will answer it."
    elif feature_request.status not in services.ESCALATABLE_STATUSES:
        blocked = "Only a declined or deferred request can be escalated."
    form = EscalationForm(request.POST or None, deals=deals)
    if request.method == "POST" and not blocked and form.is_valid():
        try:
            services.escalation_open(
                actor=request.user,
                request=feature_request,
                deals=form.cleaned_data["deals"],
                business_case=form.cleaned_data["business_case"],
                outcome_requested=form.cleaned_data["outcome_requested"],
            )
        except services.ConflictError as exc:
            blocked = str(exc)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                blocked = " ".join(exc.messages)
        else:
            messages.success(request, "Escalated. Executives have been notified.")
            return redirect("requests_app:my_requests")
    latest = feature_request.decisions.select_related("decided_by").first()
    return render(
        request,
        "requests_app/escalate.html",
        {
            "req": feature_request,
            "form": form,
            "blocked": blocked,
            "decision": latest,
            "open_escalation": open_escalation,
        },
        status=409 if blocked and request.method == "POST" else 200,
    )


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
