"""Writes and business rules for themes, alignments, the scoring policy and scores."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from requests_app.models import FeatureRequest
from requests_app.services import audit_record, request_version_claim, snapshot

from .models import StrategicTheme, Strength, ThemeAlignment

# --- Themes, alignments, effort and ranking inputs (product-side writes) --------------------------

THEME_FIELDS = ["name", "description", "weight", "horizon", "active"]


@transaction.atomic
def theme_create(*, actor, **fields: Any) -> StrategicTheme:
    """Create a strategic theme from ``THEME_FIELDS``; validates (unique name, weight 0-100)
    before writing and audits ``theme.created``."""
    unknown = set(fields) - set(THEME_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown theme fields: {', '.join(sorted(unknown))}.")
    theme = StrategicTheme(**fields)
    theme.name = (theme.name or "").strip()
    theme.full_clean()
    theme.save()
    audit_record(actor=actor, verb="theme.created", obj=theme, after=snapshot(theme, THEME_FIELDS))
    return theme


@transaction.atomic
def theme_update(*, actor, theme: StrategicTheme, **changes: Any) -> StrategicTheme:
    """Change a theme's fields; a change of weight or active status changes strategic fit of every
    aligned request (the score listeners recompute). No-op changes write nothing."""
    unknown = set(changes) - set(THEME_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown theme fields: {', '.join(sorted(unknown))}.")
    before = snapshot(theme, THEME_FIELDS)
    for field, value in changes.items():
        setattr(theme, field, value)
    after = snapshot(theme, THEME_FIELDS)
    if after == before:
        return theme
    theme.full_clean()
    theme.save()
    audit_record(actor=actor, verb="theme.updated", obj=theme, before=before, after=after)
    return theme


@transaction.atomic
def alignment_set(
    *, actor, request: FeatureRequest, theme: StrategicTheme, strength: int
) -> ThemeAlignment | None:
    """Set how strongly ``request`` serves ``theme`` (0 none, 1 weak, 2 medium, 3 strong).

    Strength 0 removes the alignment row (none and absent mean the same). Unchanged strength writes
    nothing. Audited on the request as ``alignment.set`` so its trail shows it. Returns the row, or
    None when removed.
    """
    try:
        strength = int(strength)
    except (TypeError, ValueError):
        raise ValidationError({"strength": "Pick none, weak, medium or strong."}) from None
    if strength not in Strength.values:
        raise ValidationError({"strength": "Pick none, weak, medium or strong."})
    current = ThemeAlignment.objects.filter(request=request, theme=theme).first()
    old = current.strength if current else 0
    if old == strength:
        return current
    if strength == 0:
        current.delete()
        row = None
    elif current is None:
        row = ThemeAlignment.objects.create(
            request=request, theme=theme, strength=strength, set_by=_user(actor)
        )
    else:
        current.strength = strength
        current.set_by = _user(actor)
        current.save(update_fields=["strength", "set_by", "updated_at"])
        row = current
    audit_record(
        actor=actor,
        verb="alignment.set",
        obj=request,
        before={"theme": theme.name, "strength": old},
        after={"theme": theme.name, "theme_id": theme.pk, "strength": strength},
    )
    return row


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def request_effort_set(
    *, actor, request: FeatureRequest, effort: int | None, expected_version: int | None = None
) -> FeatureRequest:
    """Set the effort estimate in points (None = unknown, factor 1.0).

    Conditional on ``expected_version`` (ConflictError when stale); bumps ``version``; audited
    ``request.effort_set``. Saving the request lets the score listeners recompute its total.
    """
    if effort is not None:
        try:
            effort = int(effort)
        except (TypeError, ValueError):
            raise ValidationError({"effort": "Effort is a whole number of points."}) from None
        if effort < 1 or effort > 1000:
            raise ValidationError({"effort": "Effort is between 1 and 1,000 points."})
    if effort == request.effort:
        return request
    before = snapshot(request, ["effort"])
    request_version_claim(request=request, expected_version=expected_version)
    request.effort = effort
    request.save(update_fields=["effort", "updated_at"])
    audit_record(
        actor=actor,
        verb="request.effort_set",
        obj=request,
        before=before,
        after={"effort": effort, "version": request.version},
    )
    return request


RANKING_INPUT_FIELDS = [
    "rice_reach",
    "rice_impact",
    "rice_confidence",
    "rice_effort_months",
    "wsjf_business_value",
    "wsjf_time_criticality",
    "wsjf_risk_reduction",
    "wsjf_job_size",
]


@transaction.atomic
def request_inputs_set(
    *, actor, request: FeatureRequest, expected_version: int | None = None, **fields: Any
) -> FeatureRequest:
    """Set RICE and WSJF inputs (any of ``RANKING_INPUT_FIELDS``; None or "" clears one).

    Values are validated against the published scales (model choices) before anything is written.
    Conditional on ``expected_version``; bumps ``version``; audited ``request.inputs_set`` with
    only the fields that changed. No change writes nothing.
    """
    unknown = set(fields) - set(RANKING_INPUT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown ranking inputs: {', '.join(sorted(unknown))}.")
    before = snapshot(request, RANKING_INPUT_FIELDS)
    for name, value in fields.items():
        if value is None and name == "rice_impact":
            value = ""
        setattr(request, name, value)
    request.full_clean(exclude=[f for f in _all_fields(request) if f not in fields])
    after = snapshot(request, RANKING_INPUT_FIELDS)
    changed = [name for name in RANKING_INPUT_FIELDS if str(before[name]) != str(after[name])]
    if not changed:
        return request
    request_version_claim(request=request, expected_version=expected_version)
    request.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        verb="request.inputs_set",
        obj=request,
        before={name: before[name] for name in changed},
        after={**{name: after[name] for name in changed}, "version": request.version},
    )
    return request


def _all_fields(obj) -> list[str]:
    return [f.name for f in obj._meta.concrete_fields]
