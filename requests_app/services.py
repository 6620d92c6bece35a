"""Writes and business rules for accounts, deals, requests and their audit trail.

Every function that changes data takes an ``actor`` and records an :class:`AuditEvent`.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from triage.roles import EXECUTIVE, has_role

from .models import (
    DECISION_STATUS,
    STAGE_PROBABILITY,
    Account,
    Ask,
    AuditEvent,
    Deal,
    Decision,
    DecisionKind,
    Escalation,
    EscalationOutcome,
    EscalationStatus,
    FeatureRequest,
    Importance,
    Notification,
    RequestStatus,
    Segment,
)


class ConflictError(Exception):
    """Someone else changed the object since the caller read it; nothing was written."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Model):
        return value.pk
    return value


def snapshot(obj: Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of ``obj`` as JSON-safe values, for audit before/after."""
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def audit_record(
    *,
    actor,
    verb: str,
    obj: Model,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one audit event. ``actor`` may be None for the system (imports, workers)."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        verb=verb,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )


def default_probability(stage: str) -> int:
    """The probability a deal gets from its stage when nobody overrides it."""
    try:
        return STAGE_PROBABILITY[stage]
    except KeyError:
        raise ValidationError({"stage": f"Unknown stage {stage!r}."}) from None


DEAL_FIELDS = ["account", "name", "amount", "stage", "probability", "close_date", "owner"]


@transaction.atomic
def deal_create(
    *,
    actor,
    account: Account,
    name: str,
    amount: Decimal,
    stage: str,
    close_date: dt.date | None = None,
    probability: int | None = None,
    owner=None,
    external_id: str | None = None,
) -> Deal:
    """Create a deal; ``probability`` defaults to the stage's. Validates before writing."""
    deal = Deal(
        account=account,
        name=name,
        amount=amount,
        stage=stage,
        probability=default_probability(stage) if probability is None else probability,
        close_date=close_date,
        owner=owner,
        external_id=external_id or None,
    )
    deal.full_clean()
    deal.save()
    audit_record(actor=actor, verb="deal.created", obj=deal, after=snapshot(deal, DEAL_FIELDS))
    return deal


@transaction.atomic
def deal_update(*, actor, deal: Deal, **changes: Any) -> Deal:
    """Change a deal. When the stage changes and the probability was the old stage's default and is
    not given explicitly, it follows the new stage."""
    before = snapshot(deal, DEAL_FIELDS)
    new_stage = changes.get("stage", deal.stage)
    if (
        "probability" not in changes
        and new_stage != deal.stage
        and deal.probability == STAGE_PROBABILITY.get(deal.stage)
    ):
        changes["probability"] = default_probability(new_stage)
    for field, value in changes.items():
        setattr(deal, field, value)
    deal.full_clean()
    deal.save()
    after = snapshot(deal, DEAL_FIELDS)
    if after != before:
        audit_record(actor=actor, verb="deal.updated", obj=deal, before=before, after=after)
    return deal


@transaction.atomic
def account_create(
    *,
    actor,
    name: str,
    segment: str = Segment.SMB,
    is_customer: bool = False,
    arr: Decimal = Decimal(0),
    external_id: str | None = None,
    sector: str = "",
) -> Account:
    """Create an account (a prospect unless ``is_customer``); ARR only counts for customers."""
    account = Account(
        name=name.strip(),
        segment=segment,
        is_customer=is_customer,
        arr=arr if is_customer else Decimal(0),
        external_id=external_id or None,
        sector=sector,
    )
    account.full_clean()
    account.save()
    audit_record(
        actor=actor,
        verb="account.created",
        obj=account,
        after=snapshot(account, ["name", "segment", "is_customer", "arr"]),
    )
    return account


REQUEST_FIELDS = ["title", "problem", "desired_outcome", "who_affected", "product_area", "status"]


@transaction.atomic
def request_submit(
    *,
    actor,
    title: str,
    problem: str,
    product_area: str,
    account: Account,
    importance: str = Importance.IMPORTANT,
    desired_outcome: str = "",
    who_affected: str = "",
    deal: Deal | None = None,
    note: str = "",
) -> FeatureRequest:
    """Record a new request with its first ask (the account, optionally a deal, the importance).

    The deal, when given, must belong to the account.
    """
    if deal is not None and deal.account_id != account.pk:
        raise ValidationError({"deal": "That deal belongs to another account."})
    request = FeatureRequest(
        title=title.strip(),
        problem=problem.strip(),
        desired_outcome=desired_outcome.strip(),
        who_affected=who_affected.strip(),
        product_area=product_area,
        created_by=actor,
    )
    request.full_clean()
    request.save()
    audit_record(
        actor=actor,
        verb="request.created",
        obj=request,
        after=snapshot(request, REQUEST_FIELDS),
    )
    ask_add(
        actor=actor, request=request, account=account, deal=deal, importance=importance, note=note
    )
    return request


@transaction.atomic
def ask_add(
    *,
    actor,
    request: FeatureRequest,
    account: Account,
    importance: str = Importance.IMPORTANT,
    deal: Deal | None = None,
    note: str = "",
) -> Ask:
    """Add evidence to a request. Asks on a merged request go to the request it was merged into."""
    if deal is not None and deal.account_id != account.pk:
        raise ValidationError({"deal": "That deal belongs to another account."})
    target = request
    seen = set()
    while target.merged_into_id is not None and target.pk not in seen:
        seen.add(target.pk)
        target = target.merged_into
    ask = Ask(
        request=target,
        account=account,
        deal=deal,
        importance=importance,
        note=note.strip(),
        created_by=actor,
    )
    ask.full_clean()
    ask.save()
    audit_record(
        actor=actor,
        verb="ask.created",
        obj=ask,
        after=snapshot(ask, ["request", "account", "deal", "importance"]),
    )
    return ask


def request_followers(*, request: FeatureRequest) -> set:
    """Everyone who follows a request: its submitter and every rep who recorded an ask on it."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    return set(
        User.objects.filter(
            Q(submitted_requests=request) | Q(asks__request=request), is_active=True
        ).distinct()
    )


def notify(
    *,
    recipients,
    verb: str,
    message: str,
    request: FeatureRequest | None = None,
    url: str = "",
    exclude=None,
) -> list[Notification]:
    """Create in-app notifications and send the emails after commit (one task per notification).

    ``exclude`` (usually the actor) is not notified of their own change. Returns the rows created.
    """
    from .tasks import notification_email_send

    rows = [
        Notification(
            recipient=user,
            verb=verb,
            message=message[:500],
            request=request,
            url=url or (request.get_absolute_url() if request else ""),
        )
        for user in recipients
        if user is not None and user != exclude
    ]
    created = Notification.objects.bulk_create(rows)
    for row in created:
        transaction.on_commit(lambda pk=row.pk: notification_email_send.delay(pk), robust=True)
    return created


QUARTER_RE = r"^\d{4}-Q[1-4]$"
ESCALATION_RESOLUTION_FIELDS = [
    "status",
    "outcome",
    "resolution_rationale",
    "compromise_terms",
    "target_quarter",
    "resolved_by",
    "resolved_at",
]
# The request statuses a compromise may settle on: each is the outcome of a decision kind.
COMPROMISE_STATUSES = {status: kind for kind, status in DECISION_STATUS.items()}


def _resolution_kind(*, escalation: Escalation, request: FeatureRequest) -> str | None:
    """The decision kind an upheld escalation confirms: the contested decision's, else the one
    that leads to the request's current status."""
    if escalation.contested_decision is not None:
        return escalation.contested_decision.kind
    return COMPROMISE_STATUSES.get(request.status)


@transaction.atomic
def escalation_resolve(
    *,
    actor,
    escalation: Escalation,
    outcome: str,
    rationale: str,
    target_quarter: str = "",
    compromise_terms: str = "",
    compromise_status: str = "",
) -> Escalation:
    """An executive settles an escalation, on the record.

    - ``uphold``: the contested decision stands; the request keeps its status and a decision of
      the same kind is recorded with the executive's rationale (none when neither the contested
      decision nor the request's status names a kind).
    - ``overturn``: the request becomes accepted for ``target_quarter`` (``YYYY-Qn``, required).
    - ``compromise``: the request moves to ``compromise_status`` (a status a decision can lead to:
      accepted, declined, deferred, already possible, needs info) with ``compromise_terms`` in
      words (required); ``target_quarter`` is optional and only kept for an accepted compromise.

    ``rationale`` is required for every outcome. The resolution is recorded as a
    :class:`Decision` with ``escalation`` set and ``decided_by`` = ``actor``; the request's
    ``version`` is bumped (it is saved, so listeners to request changes see it).

    Only executives and superusers may resolve (``PermissionDenied`` otherwise). Invalid input
    raises ``ValidationError`` keyed by argument name, before anything is written. The escalation is
    claimed with a conditional update on ``status=open``: when another executive resolved it first
    (or it was never open) ``ConflictError`` is raised and nothing is written. The escalation and
    the request are then saved as models, so listeners to their changes (score freshness) see them.

    The requesters (:func:`request_followers`), the rep who escalated and the product managers who
    decided on the request are notified after commit; the actor is not. Audited as
    ``escalation.resolved``, ``decision.recorded`` and (when the status changes)
    ``request.status_changed``.
    """
    if not has_role(actor, EXECUTIVE):
        raise PermissionDenied("Only executives resolve escalations.")

    rationale = (rationale or "").strip()
    target_quarter = (target_quarter or "").strip().upper()
    compromise_terms = (compromise_terms or "").strip()
    errors: dict[str, str] = {}
    if outcome not in EscalationOutcome.values:
        errors["outcome"] = "Choose uphold, overturn or compromise."
    if not rationale:
        errors["rationale"] = "Say why: the requesters and product will read it."
    if target_quarter and not re.match(QUARTER_RE, target_quarter):
        errors["target_quarter"] = "Give the quarter as YYYY-Qn, for example 2027-Q1."
    if outcome == EscalationOutcome.OVERTURN and not target_quarter:
        errors["target_quarter"] = "Pick the quarter it ships in."
    if outcome == EscalationOutcome.COMPROMISE:
        if not compromise_terms:
            errors["compromise_terms"] = "Describe the compromise in a sentence or two."
        if compromise_status not in COMPROMISE_STATUSES:
            errors["compromise_status"] = "Pick the status the request moves to."
    if errors:
        raise ValidationError(errors)

    now = timezone.now()
    # Claim: a conditional update that only an open, unclaimed escalation passes. It takes the row
    # lock, so a second executive waits here and then finds it claimed (rowcount 0).
    claimed = Escalation.objects.filter(
        pk=escalation.pk, status=EscalationStatus.OPEN, resolved_at__isnull=True
    ).update(resolved_at=now)
    if not claimed:
        raise ConflictError("This escalation has already been resolved.")
    escalation = Escalation.objects.select_related("contested_decision", "raised_by").get(
        pk=escalation.pk
    )
    # FOR NO KEY UPDATE: serialises with other writers of the request, but not with foreign-key
    # checks of rows that point at it (score upserts by a worker), which would deadlock.
    request = FeatureRequest.objects.select_for_update(no_key=True).get(pk=escalation.request_id)
    if outcome == EscalationOutcome.UPHOLD:
        new_status = request.status
        kind = _resolution_kind(escalation=escalation, request=request)
        target_quarter = ""
    elif outcome == EscalationOutcome.OVERTURN:
        new_status = RequestStatus.ACCEPTED
        kind = DecisionKind.ACCEPT
    else:
        new_status = compromise_status
        kind = COMPROMISE_STATUSES[compromise_status]
        if new_status != RequestStatus.ACCEPTED:
            target_quarter = ""
    if outcome != EscalationOutcome.COMPROMISE:
        compromise_terms = ""

    before = snapshot(escalation, ESCALATION_RESOLUTION_FIELDS)
    before["resolved_at"] = None
    escalation.status = EscalationStatus.RESOLVED
    escalation.outcome = outcome
    escalation.resolution_rationale = rationale
    escalation.compromise_terms = compromise_terms
    escalation.target_quarter = target_quarter
    escalation.resolved_by = actor
    # A model save (not a queryset update) so listeners to escalation changes see it resolve.
    escalation.save(update_fields=ESCALATION_RESOLUTION_FIELDS)
    audit_record(
        actor=actor,
        verb="escalation.resolved",
        obj=escalation,
        before=before,
        after=snapshot(escalation, ESCALATION_RESOLUTION_FIELDS),
    )

    decision = None
    if kind:
        decision_rationale = rationale
        if compromise_terms:
            decision_rationale = f"{rationale}\n\nCompromise: {compromise_terms}"
        decision = Decision.objects.create(
            request=request,
            kind=kind,
            rationale=decision_rationale,
            decided_by=actor,
            target_quarter=target_quarter,
            escalation=escalation,
        )
        audit_record(
            actor=actor,
            verb="decision.recorded",
            obj=decision,
            after=snapshot(decision, ["request", "kind", "target_quarter", "escalation"]),
        )

    old_status = request.status
    request.status = new_status
    request.version += 1
    request.save(update_fields=["status", "version", "updated_at"])
    if new_status != old_status:
        audit_record(
            actor=actor,
            verb="request.status_changed",
            obj=request,
            before={"status": old_status},
            after={"status": new_status, "escalation": escalation.pk},
        )

    deciders = {
        d.decided_by
        for d in Decision.objects.filter(request=request, escalation__isnull=True)
        .exclude(decided_by=None)
        .select_related("decided_by")
        if d.decided_by.is_active
    }
    recipients = request_followers(request=request) | deciders
    if escalation.raised_by is not None:
        recipients.add(escalation.raised_by)
    name = actor.get_full_name() or actor.get_username()
    summary = {
        EscalationOutcome.UPHOLD: "upheld the decision",
        EscalationOutcome.OVERTURN: f"overturned the decision: accepted for {target_quarter}",
        EscalationOutcome.COMPROMISE: (
            f"settled on a compromise: {RequestStatus(new_status).label.lower()}"
        ),
    }[outcome]
    notify(
        recipients=recipients,
        verb="escalation.resolved",
        message=f"{name} {summary} on “{request.title}”. {rationale}",
        request=request,
        exclude=actor,
    )
    return escalation
