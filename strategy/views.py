"""Product pages: the triage board, the matrix, the product request page and the strategy page.

Views validate, call a service or selector, and render. Every action works as a plain form post;
htmx only saves page loads (expanding a row, the what-if preview, progress polling).
"""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from requests_app import services as request_services
from requests_app.models import Ask, FeatureRequest, RequestStatus
from requests_app.services import ConflictError
from triage.roles import PRODUCT, role_required

from . import charts, selectors, services, whatif
from .forms import (
    AlignmentForm,
    BoardFilterForm,
    BulkStatusForm,
    DecisionForm,
    EffortInputsForm,
    MergeForm,
    PolicyForm,
    ThemeForm,
)
from .models import ScoringPolicy, StrategicTheme


def _board_filters(request) -> tuple[BoardFilterForm, selectors.BoardFilters]:
    form = BoardFilterForm(request.GET or None)
    return form, (form.filters() if request.GET else selectors.BoardFilters())


def _board_context(request, bulk_form=None) -> dict:
    form, filters = _board_filters(request)
    page = selectors.board_page(filters, request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "form": form,
        "filters": filters,
        "sort_label": selectors.BOARD_SORTS.get(filters.sort, "Score"),
        "page": page,
        "query": query.urlencode(),
        "bulk_form": bulk_form or BulkStatusForm(),
        "checked": set(bulk_form.data.getlist("ids")) if bulk_form is not None else set(),
        "filtered": any(k != "sort" and v for k, v in request.GET.items() if k != "page"),
    }


@role_required(PRODUCT)
def board(request):
    return render(request, "strategy/board.html", _board_context(request))


@role_required(PRODUCT)
def board_matrix(request):
    form, filters = _board_filters(request)
    rows = selectors.board_matrix_rows(filters)
    query = request.GET.copy()
    return render(
        request,
        "strategy/matrix.html",
        {
            "form": form,
            "chart": charts.matrix_chart(rows),
            "rows": rows,
            "query": query.urlencode(),
        },
    )


class _Echo:
    def write(self, value):
        return value


CSV_HEADER = [
    "rank",
    "id",
    "title",
    "status",
    "product_area",
    "score",
    "strategic_fit",
    "customer_breadth",
    "revenue_at_stake",
    "accounts_asking",
    "open_pipeline",
    "flags",
    "product_lens_rank",
    "sales_lens_rank",
    "rice",
    "wsjf",
    "created",
    "score_stale",
    "url",
]


def _csv_number(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


@role_required(PRODUCT)
def board_export(request):
    """The filtered board as CSV, streamed so any size works."""
    _, filters = _board_filters(request)
    rows = selectors.board_rows(filters)
    writer = csv.writer(_Echo())
    base = request.build_absolute_uri("/").rstrip("/")

    def lines():
        yield writer.writerow(CSV_HEADER)
        for rank, r in enumerate(rows.iterator(chunk_size=2000), start=1):
            score = getattr(r, "score", None)
            yield writer.writerow(
                [
                    rank,
                    r.pk,
                    r.title,
                    r.get_status_display(),
                    r.get_product_area_display(),
                    _csv_number(score.total if score else None, 0),
                    _csv_number(score.strategic_fit if score else None, 0),
                    _csv_number(score.customer_breadth if score else None, 0),
                    _csv_number(score.revenue_at_stake if score else None, 0),
                    score.accounts_count if score else 0,
                    f"{score.open_pipeline:.2f}" if score else "0.00",
                    " ".join(score.flags or []) if score else "",
                    r.product_rank,
                    r.sales_rank,
                    _csv_number(r.rice, 2),
                    _csv_number(r.wsjf, 2),
                    r.created_at.date().isoformat(),
                    "yes" if (score is None or score.stale) else "no",
                    f"{base}{r.get_absolute_url()}",
                ]
            )

    stamp = timezone.localdate().isoformat()
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="triage-board-{stamp}.csv"'
    return response


@require_POST
@role_required(PRODUCT)
def board_bulk(request):
    """One status and one rationale for every ticked request; each change is its own audit."""
    form = BulkStatusForm(request.POST)
    if not form.is_valid():
        return render(
            request, "strategy/board.html", _board_context(request, bulk_form=form), status=400
        )
    data = form.cleaned_data
    changed, skipped = [], []
    for fr in FeatureRequest.objects.filter(pk__in=data["ids"]).order_by("pk"):
        try:
            request_services.request_status_set(
                actor=request.user, request=fr, status=data["status"], rationale=data["rationale"]
            )
        except ValidationError as exc:
            skipped.append(f"#{fr.pk} {fr.title} ({' '.join(exc.messages)})")
        else:
            changed.append(fr)
    label = RequestStatus(data["status"]).label
    if changed:
        messages.success(request, f"Moved {len(changed)} request(s) to {label}.")
    if skipped:
        messages.error(request, "Not changed: " + "; ".join(skipped))
    return redirect(_back_to_board(request))


def _back_to_board(request) -> str:
    url = reverse("strategy:board")
    back = request.POST.get("back", "")
    if back.startswith("?"):
        return url + back
    return url


@role_required(PRODUCT)
def request_why(request, pk: int):
    """A board row's explanation: an htmx fragment, or a page of its own without JavaScript."""
    fr = get_object_or_404(FeatureRequest.objects.select_related("score"), pk=pk)
    score = getattr(fr, "score", None)
    context = {"req": fr, "score": score, "explanation": (score.explanation if score else {})}
    if request.htmx:
        return render(request, "strategy/_why_row.html", context)
    return render(request, "strategy/why.html", context)


# --- The product request page ------------------------------------------------------------------


def _request_page_context(request, fr, **forms) -> dict:
    score = getattr(fr, "score", None)
    alignments = selectors.request_alignments(request=fr)
    policy = services.policy_current()
    waterfall = None
    if score is not None:
        weights = (
            (policy.weight_strategic, policy.weight_breadth, policy.weight_revenue)
            if policy
            else (0.45, 0.35, 0.2)
        )
        components = (score.explanation or {}).get("components") or {}
        if components:
            weights = tuple(
                float((components.get(name) or {}).get("weight", w))
                for name, w in zip(
                    ("strategic_fit", "customer_breadth", "revenue_at_stake"), weights, strict=True
                )
            )
        waterfall = charts.waterfall(
            strategic=score.strategic_fit,
            breadth=score.customer_breadth,
            revenue=score.revenue_at_stake,
            weights=weights,
            effort_factor=score.effort_factor,
        )
    history = selectors.request_history(request=fr)
    return {
        "req": fr,
        "score": score,
        "explanation": (score.explanation if score else {}) or {},
        "asks": Ask.objects.filter(request=fr).select_related("account", "deal", "created_by"),
        "decisions": fr.decisions.select_related("decided_by"),
        "waterfall": waterfall,
        "history": history,
        "history_chart": charts.history_line(history),
        "history_recent": list(reversed(history))[:8],
        "audit": selectors.request_audit_trail(request=fr),
        "decision_form": forms.get("decision_form")
        or DecisionForm(initial={"version": fr.version}),
        "alignment_form": forms.get("alignment_form") or AlignmentForm(alignments=alignments),
        "inputs_form": forms.get("inputs_form")
        or EffortInputsForm(instance=fr, initial={"version": fr.version}),
        "merge_form": forms.get("merge_form") or MergeForm(),
        "conflict": forms.get("conflict"),
        "is_merged": fr.status == RequestStatus.MERGED,
    }


def _load(pk: int) -> FeatureRequest:
    try:
        return selectors.request_for_product(pk=pk)
    except FeatureRequest.DoesNotExist:
        raise Http404("No such request.") from None


@role_required(PRODUCT)
def request_triage(request, pk: int):
    fr = _load(pk)
    return render(request, "strategy/request_triage.html", _request_page_context(request, fr))


def _render_with(request, fr, status: int = 400, **forms):
    return render(
        request,
        "strategy/request_triage.html",
        _request_page_context(request, fr, **forms),
        status=status,
    )


def _conflict_text(fr: FeatureRequest) -> str:
    latest = fr.decisions.select_related("decided_by").first()
    if latest is None:
        return (
            "Someone else changed this request while you were looking at it. Nothing was saved. "
            "The page now shows the latest state; review it and submit again."
        )
    who = latest.decided_by.get_full_name() if latest.decided_by else "someone"
    return (
        f"{who or latest.decided_by.username} recorded “{latest.get_kind_display()}” on this "
        "request while you were looking at it. Nothing was saved; your text is kept below. "
        "Review their decision and submit again if you still disagree."
    )


@require_POST
@role_required(PRODUCT)
def request_decide(request, pk: int):
    fr = _load(pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _render_with(request, fr, decision_form=form)
    data = form.cleaned_data
    try:
        request_services.decision_record(
            actor=request.user,
            request=fr,
            kind=data["kind"],
            rationale=form.full_rationale(),
            target_quarter=data["target_quarter"],
            revisit_on=data["revisit_on"],
            expected_version=data["version"],
        )
    except ConflictError:
        fr = _load(pk)
        # Keep what was typed but carry the fresh version, so a deliberate resubmit works.
        post = request.POST.copy()
        post["version"] = fr.version
        return _render_with(
            request, fr, status=409, decision_form=DecisionForm(post), conflict=_conflict_text(fr)
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _render_with(request, fr, decision_form=form)
    messages.success(request, "Decision recorded. The requesters have been notified.")
    return redirect("strategy:request_triage", pk=pk)


@require_POST
@role_required(PRODUCT)
def request_alignments(request, pk: int):
    fr = _load(pk)
    form = AlignmentForm(request.POST, alignments=selectors.request_alignments(request=fr))
    if not form.is_valid():
        return _render_with(request, fr, alignment_form=form)
    with transaction.atomic():
        for theme, strength in form.changes():
            services.alignment_set(actor=request.user, request=fr, theme=theme, strength=strength)
    messages.success(request, "Alignment saved. The score updates in a moment.")
    return redirect(reverse("strategy:request_triage", args=[pk]) + "#score")


@require_POST
@role_required(PRODUCT)
def request_inputs(request, pk: int):
    fr = _load(pk)
    form = EffortInputsForm(request.POST, instance=FeatureRequest.objects.get(pk=pk))
    if not form.is_valid():
        return _render_with(request, fr, inputs_form=form)
    data = form.cleaned_data
    version = data["version"]
    try:
        with transaction.atomic():
            services.request_effort_set(
                actor=request.user, request=fr, effort=data["effort"], expected_version=version
            )
            services.request_inputs_set(
                actor=request.user,
                request=fr,
                **{k: data[k] for k in services.RANKING_INPUT_FIELDS},
            )
    except ConflictError:
        fresh = _load(pk)
        post = request.POST.copy()
        post["version"] = fresh.version
        return _render_with(
            request,
            fresh,
            status=409,
            inputs_form=EffortInputsForm(post, instance=fresh),
            conflict=_conflict_text(fresh),
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _render_with(request, fr, inputs_form=form)
    messages.success(request, "Effort and ranking inputs saved.")
    return redirect(reverse("strategy:request_triage", args=[pk]) + "#score")


@require_POST
@role_required(PRODUCT)
def request_merge(request, pk: int):
    fr = _load(pk)
    form = MergeForm(request.POST)
    if form.is_valid():
        target = FeatureRequest.objects.filter(pk=form.cleaned_data["target"]).first()
        if target is None:
            form.add_error("target", f"There is no request #{form.cleaned_data['target']}.")
        else:
            try:
                request_services.request_merge(actor=request.user, source=fr, target=target)
            except (ValidationError, ConflictError) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                form.add_error("target", text)
            else:
                messages.success(
                    request, f"Merged into “{target.title}”; the asks and requesters moved there."
                )
                return redirect("strategy:request_triage", pk=target.pk)
    return _render_with(request, fr, merge_form=form)


@role_required(PRODUCT)
def request_score(request, pk: int):
    """The score panel alone: polled while the score is being recomputed."""
    fr = _load(pk)
    return render(request, "strategy/_score_panel.html", _request_page_context(request, fr))


# --- Strategy: themes, policy, what-if ---------------------------------------------------------


def _policy() -> ScoringPolicy:
    return services.policy_current()


def _policy_form(policy, themes, data=None) -> PolicyForm:
    initial = {
        "weight_strategic": policy.weight_strategic,
        "weight_breadth": policy.weight_breadth,
        "weight_revenue": policy.weight_revenue,
        "revenue_ref": policy.revenue_ref,
        "effort_ref": policy.effort_ref,
    }
    return PolicyForm(data, initial=initial, themes=themes)


def _strategy_context(**extra) -> dict:
    policy = _policy()
    themes = list(selectors.themes_all())
    active = [t for t in themes if t.active]
    return {
        "themes": themes,
        "policy": policy,
        "policy_form": extra.pop("policy_form", None) or _policy_form(policy, active),
        "theme_form": extra.pop("theme_form", None) or ThemeForm(),
        "stale": selectors.stale_scores_count(),
        **extra,
    }


@role_required(PRODUCT)
def strategy(request):
    return render(request, "strategy/strategy.html", _strategy_context())


@require_POST
@role_required(PRODUCT)
def theme_new(request):
    form = ThemeForm(request.POST)
    if form.is_valid():
        try:
            theme = services.theme_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Theme “{theme.name}” added.")
            return redirect("strategy:strategy")
    return render(request, "strategy/strategy.html", _strategy_context(theme_form=form), status=400)


@role_required(PRODUCT)
def theme_edit(request, pk: int):
    theme = get_object_or_404(StrategicTheme, pk=pk)
    form = ThemeForm(request.POST or None, instance=StrategicTheme.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.theme_update(actor=request.user, theme=theme, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Theme “{theme.name}” saved. Scores are being updated.")
            return redirect("strategy:strategy")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "strategy/theme_form.html", {"form": form, "theme": theme}, status=status
    )


@require_POST
@role_required(PRODUCT)
def policy_whatif(request):
    """Preview the top of the board under the weights in the form. Writes nothing."""
    policy = _policy()
    active = list(StrategicTheme.objects.filter(active=True))
    form = _policy_form(policy, active, request.POST)
    preview = None
    if form.is_valid():
        preview = whatif.whatif_preview(
            policy=policy, changes=form.policy_changes(), theme_weights=form.theme_weights()
        )
    if request.htmx:
        return render(request, "strategy/_whatif.html", {"preview": preview, "policy_form": form})
    return render(
        request,
        "strategy/strategy.html",
        _strategy_context(policy_form=form, preview=preview),
        status=200 if preview is not None else 400,
    )


@require_POST
@role_required(PRODUCT)
def policy_save(request):
    """Save weights: a new policy version and theme weight changes, audited; scores follow."""
    policy = _policy()
    active = list(StrategicTheme.objects.filter(active=True))
    form = _policy_form(policy, active, request.POST)
    if not form.is_valid():
        return render(
            request, "strategy/strategy.html", _strategy_context(policy_form=form), status=400
        )
    reason = form.cleaned_data["reason"].strip() or "Weights changed on the strategy page."
    changes = {k: v for k, v in form.policy_changes().items() if getattr(policy, k) != v}
    try:
        with transaction.atomic():
            if changes:
                services.policy_update(actor=request.user, reason=reason, **changes)
            for theme in active:
                weight = form.theme_weights()[theme.pk]
                if weight != theme.weight:
                    services.theme_update(actor=request.user, theme=theme, weight=weight)
    except ValidationError as exc:
        form.add_error(None, exc)
        return render(
            request, "strategy/strategy.html", _strategy_context(policy_form=form), status=400
        )
    messages.success(request, "Weights saved. Scores are being recomputed.")
    return redirect(reverse("strategy:strategy") + "#progress")


@role_required(PRODUCT)
def recompute_progress(request):
    """How many scores are still waiting; polled by the strategy page until zero."""
    stale = selectors.stale_scores_count()
    return render(request, "strategy/_progress.html", {"stale": stale, "done": True})
