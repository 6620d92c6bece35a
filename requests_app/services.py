"""Writes and business rules for accounts, deals, requests and their audit trail.

Every function that changes data takes an ``actor`` and records an :class:`AuditEvent`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Model, Q
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


# --- Product decisions, status changes and merges -------------------------------------------------


def _actor_name(actor) -> str:
    if not getattr(actor, "is_authenticated", False):
        return "Triage"
    return actor.get_full_name() or actor.get_username()


def request_version_claim(*, request: FeatureRequest, expected_version: int | None) -> None:
    """Bump ``request.version`` with a conditional update; raise ConflictError when stale.

    The UPDATE both checks and claims the row, so of two managers writing at once exactly one
    wins; the row stays locked by this transaction for the rest of the caller's writes.
    """
    rows = FeatureRequest.objects.filter(pk=request.pk)
    if expected_version is not None:
        rows = rows.filter(version=expected_version)
    if not rows.update(version=F("version") + 1):
        raise ConflictError(
            "Someone else changed this request while you were looking at it. "
            "Nothing was saved: review the latest state and try again."
        )
    request.version = FeatureRequest.objects.values_list("version", flat=True).get(pk=request.pk)


def _quarter_valid(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-Q[1-4]", value or ""))


@transaction.atomic
def decision_record(
    *,
    actor,
    request: FeatureRequest,
    kind: str,
    rationale: str,
    target_quarter: str = "",
    revisit_on: dt.date | None = None,
    expected_version: int | None = None,
    escalation=None,
) -> Decision:
    """Record a product decision and move the request to the status the decision implies.

    Contract:
    - ``rationale`` is required (the requesters read it). ``accept`` needs ``target_quarter``
      like ``2027-Q1``; ``defer`` needs ``revisit_on`` (today or later). ``already_possible``'s
      rationale explains how to do it today; ``needs_info``'s says what is missing.
    - A merged request cannot be decided (decide the request it was merged into).
    - With ``expected_version`` the write is conditional: when someone changed the request since
      the caller read it, ``ConflictError`` is raised and nothing is written.
    - Bumps ``version``, audits ``decision.recorded`` on the request and notifies its followers
      (submitter and reps with asks), except the actor.
    """
    rationale = (rationale or "").strip()
    target_quarter = (target_quarter or "").strip().upper()
    errors: dict[str, str] = {}
    if kind not in DECISION_STATUS:
        errors["kind"] = "Pick a decision."
    if not rationale:
        errors["rationale"] = "Explain the decision: the requesters will read it."
    if kind == DecisionKind.ACCEPT and not _quarter_valid(target_quarter):
        errors["target_quarter"] = "Give the target quarter, like 2027-Q1."
    if kind == DecisionKind.DEFER:
        if revisit_on is None:
            errors["revisit_on"] = "Give the date to look at this again."
        elif revisit_on < timezone.localdate():
            errors["revisit_on"] = "The revisit date must be today or later."
    if request.status == RequestStatus.MERGED:
        errors["kind"] = "This request was merged; decide the request it was merged into."
    if errors:
        raise ValidationError(errors)

    request_version_claim(request=request, expected_version=expected_version)
    before = snapshot(request, ["status"])
    new_status = DECISION_STATUS[kind]
    FeatureRequest.objects.filter(pk=request.pk).update(
        status=new_status, updated_at=timezone.now()
    )
    request.status = new_status
    decision = Decision.objects.create(
        request=request,
        kind=kind,
        rationale=rationale,
        decided_by=actor if getattr(actor, "is_authenticated", False) else None,
        target_quarter=target_quarter if kind == DecisionKind.ACCEPT else "",
        revisit_on=revisit_on if kind == DecisionKind.DEFER else None,
        escalation=escalation,
    )
    audit_record(
        actor=actor,
        verb="decision.recorded",
        obj=request,
        before=before,
        after={
            "status": new_status,
            "decision": decision.pk,
            "kind": kind,
            "rationale": rationale,
            "target_quarter": decision.target_quarter,
            "revisit_on": _jsonable(decision.revisit_on),
            "version": request.version,
        },
    )
    detail = ""
    if decision.target_quarter:
        detail = f" for {decision.target_quarter}"
    elif decision.revisit_on:
        detail = (
            f" until {decision.revisit_on:%b} {decision.revisit_on.day}, {decision.revisit_on.year}"
        )
    notify(
        recipients=request_followers(request=request),
        verb="decision",
        message=(
            f"{_actor_name(actor)} decided “{request.title}”: "
            f"{decision.get_kind_display()}{detail}. “{rationale}”"
        ),
        request=request,
        exclude=actor,
    )
    return decision


STATUS_DECISION = {status: kind for kind, status in DECISION_STATUS.items()}
# Statuses a plain status change may not set: they need a decision's extra fields, or a merge.
STATUS_NEEDS_MORE = {
    RequestStatus.ACCEPTED: "Accepting needs a target quarter: record a decision instead.",
    RequestStatus.DEFERRED: "Deferring needs a revisit date: record a decision instead.",
    RequestStatus.MERGED: "Use merge to mark a request as a duplicate.",
}


@transaction.atomic
def request_status_set(
    *,
    actor,
    request: FeatureRequest,
    status: str,
    rationale: str,
    expected_version: int | None = None,
) -> FeatureRequest:
    """Move a request to ``status`` with a rationale (used one by one and for bulk changes).

    Contract:
    - ``rationale`` is required. Declined, already possible and needs info are decisions: they
      go through :func:`decision_record` so the requesters see them with the rationale.
    - Accepted, deferred and merged cannot be set here (they need a target quarter, a revisit
      date or a merge target): ``ValidationError``. A merged request cannot change status.
    - Setting the status it already has is a no-op (no version bump, no audit, no notification).
    - Conditional on ``expected_version`` like :func:`decision_record`; audited
      ``request.status_changed``; followers are notified.
    """
    rationale = (rationale or "").strip()
    if status not in RequestStatus.values:
        raise ValidationError({"status": "Pick a status."})
    if status in STATUS_NEEDS_MORE:
        raise ValidationError({"status": STATUS_NEEDS_MORE[status]})
    if not rationale:
        raise ValidationError({"rationale": "Explain the change: the requesters will read it."})
    if request.status == RequestStatus.MERGED:
        raise ValidationError({"status": f"“{request.title}” was merged; it has no status."})
    if status == request.status:
        return request
    if status in STATUS_DECISION:
        decision_record(
            actor=actor,
            request=request,
            kind=STATUS_DECISION[status],
            rationale=rationale,
            expected_version=expected_version,
        )
        return request
    request_version_claim(request=request, expected_version=expected_version)
    before = snapshot(request, ["status"])
    FeatureRequest.objects.filter(pk=request.pk).update(status=status, updated_at=timezone.now())
    request.status = status
    audit_record(
        actor=actor,
        verb="request.status_changed",
        obj=request,
        before=before,
        after={"status": status, "rationale": rationale, "version": request.version},
    )
    notify(
        recipients=request_followers(request=request),
        verb="status",
        message=(
            f"{_actor_name(actor)} moved “{request.title}” to "
            f"{request.get_status_display()}. “{rationale}”"
        ),
        request=request,
        exclude=actor,
    )
    return request


@transaction.atomic
def request_merge(*, actor, source: FeatureRequest, target: FeatureRequest) -> FeatureRequest:
    """Merge the duplicate ``source`` into ``target`` and return ``target``.

    Contract:
    - ``source`` must not be ``target`` and neither may already be merged (merge into the
      surviving request instead): ``ValidationError``.
    - Every ask of ``source`` moves to ``target``; requests previously merged into ``source``
      now point at ``target`` (chains never grow: every duplicate points at a live request).
    - ``source`` becomes ``merged`` with ``merged_into = target``; both versions are bumped.
    - ``source`` is saved (so listeners of request saves, such as scores, see the merge), the
      merge is audited on both, and the followers of ``source`` and ``target`` are notified.
    - Conditional: if ``source`` was merged by someone else meanwhile, ``ConflictError``.
    """
    if source.pk == target.pk:
        raise ValidationError({"target": "A request cannot be merged into itself."})
    if target.status == RequestStatus.MERGED or target.merged_into_id is not None:
        raise ValidationError(
            {"target": f"“{target.title}” was itself merged; merge into the request it points to."}
        )
    if source.status == RequestStatus.MERGED:
        raise ValidationError({"source": f"“{source.title}” is already merged."})

    followers = request_followers(request=source) | request_followers(request=target)
    before = snapshot(source, ["status", "merged_into"])
    # Claim the source with a conditional update, so two managers cannot merge it at once.
    claimed = (
        FeatureRequest.objects.filter(pk=source.pk, merged_into__isnull=True)
        .exclude(status=RequestStatus.MERGED)
        .update(version=F("version") + 1)
    )
    if not claimed:
        raise ConflictError("Someone else merged this request meanwhile. Nothing was saved.")
    moved = Ask.objects.filter(request=source).update(request=target)
    chained = FeatureRequest.objects.filter(merged_into=source).update(merged_into=target)
    FeatureRequest.objects.filter(pk=target.pk).update(version=F("version") + 1)
    target.refresh_from_db()
    source.version = FeatureRequest.objects.values_list("version", flat=True).get(pk=source.pk)
    # A real save (not a queryset update), so listeners of request saves see the merge.
    source.status = RequestStatus.MERGED
    source.merged_into = target
    source.save(update_fields=["status", "merged_into", "updated_at"])
    audit_record(
        actor=actor,
        verb="request.merged",
        obj=source,
        before=before,
        after={"status": RequestStatus.MERGED, "merged_into": target.pk, "asks_moved": moved},
    )
    audit_record(
        actor=actor,
        verb="request.merge_received",
        obj=target,
        after={"source": source.pk, "asks_moved": moved, "chained": chained},
    )
    notify(
        recipients=followers,
        verb="merged",
        message=(
            f"{_actor_name(actor)} merged “{source.title}” into “{target.title}”: "
            "the same need, tracked in one place. Your accounts and deals moved with it."
        ),
        request=target,
        exclude=actor,
    )
    return target


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


# --- Sales journey: intake, own edits, escalations ----------------------------------------------


def business_days_after(start: dt.datetime, days: int) -> dt.datetime:
    """``start`` moved forward by ``days`` working days (Saturday and Sunday skipped)."""
    current = start
    remaining = days
    while remaining > 0:
        current += dt.timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


@transaction.atomic
def request_intake(
    *,
    actor,
    account: Account | None,
    importance: str,
    note: str = "",
    prospect_name: str = "",
    prospect_segment: str = Segment.SMB,
    deal: Deal | None = None,
    new_deal: dict | None = None,
    into: FeatureRequest | None = None,
    fields: dict | None = None,
) -> tuple[FeatureRequest, Ask]:
    """Record a rep's evidence: on a new request (``fields``) or on an existing one (``into``).

    The account is ``account``, or a new prospect named ``prospect_name``. The deal at stake is
    ``deal`` (an open deal of that account), or a new one from ``new_deal`` (name, amount, stage,
    close_date; owned by the actor), or none. Everything happens in one transaction: a failure
    leaves no half-created prospect or deal. Adding to an existing request notifies its
    followers; a merged request forwards the ask to the request it was merged into.
    """
    if (into is None) == (fields is None):
        raise ValueError("Give exactly one of into= or fields=.")
    if account is None:
        if not prospect_name.strip():
            raise ValidationError({"account": "Pick the account that needs this."})
        account = account_create(
            actor=actor, name=prospect_name, segment=prospect_segment, is_customer=False
        )
    if deal is not None:
        if deal.account_id != account.pk:
            raise ValidationError({"deal": f"That deal belongs to {deal.account}, not {account}."})
        if not deal.is_open:
            raise ValidationError({"deal": "That deal is closed; pick an open one."})
    elif new_deal:
        deal = deal_create(actor=actor, account=account, owner=actor, **new_deal)
    if into is None:
        request = request_submit(
            actor=actor,
            account=account,
            deal=deal,
            importance=importance,
            note=note,
            **fields,
        )
        return request, request.asks.get()
    ask = ask_add(
        actor=actor, request=into, account=account, deal=deal, importance=importance, note=note
    )
    target = ask.request
    notify(
        recipients=request_followers(request=target),
        verb="ask.added",
        message=f"{_name(actor)} added {account} to “{target.title}”.",
        request=target,
        exclude=actor,
    )
    return target, ask


def _name(user) -> str:
    if user is None:
        return "Someone"
    return user.get_full_name() or user.get_username()


SALES_EDITABLE_FIELDS = ("title", "problem", "desired_outcome", "who_affected", "product_area")


@transaction.atomic
def request_update(*, actor, request: FeatureRequest, **changes: Any) -> FeatureRequest:
    """The submitter (or a superuser) edits the wording of a request while it is still new.

    Only :data:`SALES_EDITABLE_FIELDS` may change (never status, effort, scores or themes). The
    write is conditional on the status still being new, so an edit racing a product decision
    raises :class:`ConflictError` instead of rewriting a request product has already decided.
    """
    from .models import RequestStatus

    unknown = set(changes) - set(SALES_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    if actor is None or (request.created_by_id != actor.pk and not actor.is_superuser):
        raise PermissionDenied("Only the rep who submitted a request may edit it.")
    before = snapshot(request, list(SALES_EDITABLE_FIELDS))
    for field, value in changes.items():
        setattr(request, field, value.strip() if isinstance(value, str) else value)
    request.full_clean()
    updated = FeatureRequest.objects.filter(pk=request.pk, status=RequestStatus.NEW).update(
        version=F("version") + 1,
        updated_at=timezone.now(),
        **{field: getattr(request, field) for field in SALES_EDITABLE_FIELDS},
    )
    if not updated:
        raise ConflictError(
            "Product has already picked this request up; it can no longer be edited."
        )
    request.refresh_from_db()
    after = snapshot(request, list(SALES_EDITABLE_FIELDS))
    if after != before:
        audit_record(actor=actor, verb="request.updated", obj=request, before=before, after=after)
    return request


ESCALATABLE_STATUSES = ("declined", "deferred")


@transaction.atomic
def escalation_open(
    *,
    actor,
    request: FeatureRequest,
    deals,
    business_case: str,
    outcome_requested: str,
) -> Escalation:
    """Sales contests the decision on a declined or deferred request.

    Rules: only declined or deferred requests; at most one open escalation per request (checked
    under a row lock on the request, and by a unique constraint); the deals must be open deals
    linked to the request by an ask; business case and outcome are required. The escalation is
    due ``ESCALATION_SLA_BUSINESS_DAYS`` business days from now and contests the latest decision.
    Executives are notified (emails after commit).
    """
    from django.contrib.auth import get_user_model

    from .models import EscalationStatus

    # FOR NO KEY UPDATE: a score recompute writing this request's score row holds a key-share
    # lock on it; a full FOR UPDATE here would wait for it while it waits for our score lock.
    locked = FeatureRequest.objects.select_for_update(no_key=True).get(pk=request.pk)
    if locked.status not in ESCALATABLE_STATUSES:
        raise ValidationError(
            "Only a declined or deferred request can be escalated; this one is "
            f"{locked.get_status_display().lower()}."
        )
    if Escalation.objects.filter(request=locked, status=EscalationStatus.OPEN).exists():
        raise ConflictError("This request already has an open escalation.")
    business_case, outcome_requested = business_case.strip(), outcome_requested.strip()
    errors = {}
    if not business_case:
        errors["business_case"] = "Explain what is at stake for the customer and the deal."
    if not outcome_requested:
        errors["outcome_requested"] = "Say what you are asking for."
    deals = list(deals)
    linked = set(
        Ask.objects.filter(request=locked, deal__isnull=False).values_list("deal_id", flat=True)
    )
    if any(deal.pk not in linked or not deal.is_open for deal in deals):
        errors["deals"] = "Only open deals recorded on this request can be put at stake."
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    escalation = Escalation(
        request=locked,
        contested_decision=locked.decisions.order_by("-decided_at", "-pk").first(),
        raised_by=actor,
        business_case=business_case,
        outcome_requested=outcome_requested,
        due_at=business_days_after(now, settings.ESCALATION_SLA_BUSINESS_DAYS),
    )
    escalation.save()
    escalation.deals.set(deals)
    audit_record(
        actor=actor,
        verb="escalation.opened",
        obj=escalation,
        after={
            "request": locked.pk,
            "deals": sorted(d.pk for d in deals),
            "outcome_requested": outcome_requested,
            "due_at": escalation.due_at.isoformat(),
        },
    )
    User = get_user_model()
    executives = User.objects.filter(groups__name="Executive", is_active=True).distinct()
    at_stake = sum((d.amount for d in deals), Decimal(0))
    stake = f" (${at_stake:,.0f} at stake)" if at_stake else ""
    notify(
        recipients=set(executives),
        verb="escalation.opened",
        message=f"{_name(actor)} escalated “{locked.title}”{stake}.",
        request=locked,
        exclude=actor,
    )
    return escalation


# --- CRM imports -----------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import did (or, for a dry run or a refused all-or-nothing run, would have done)."""

    accounts_created: int = 0
    accounts_updated: int = 0
    deals_created: int = 0
    deals_updated: int = 0
    unchanged: int = 0
    errors: list = dataclass_field(default_factory=list)  # RowError
    written: bool = False
    layout: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts_created": self.accounts_created,
            "accounts_updated": self.accounts_updated,
            "deals_created": self.deals_created,
            "deals_updated": self.deals_updated,
            "unchanged": self.unchanged,
            "errors": len(self.errors),
        }

    @property
    def rows_rejected(self) -> int:
        return len({e.row for e in self.errors})


class _RollBack(Exception):
    pass


ACCOUNT_IMPORT_FIELDS = [
    "name",
    "external_id",
    "segment",
    "is_customer",
    "arr",
    "sector",
    "employees",
]
DEAL_IMPORT_FIELDS = [*DEAL_FIELDS, "external_id"]
IMPORT_CHUNK = 1000


def crm_import(
    *,
    actor,
    parsed,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Upsert the accounts or deals of a parsed CRM file (``importers.parse_crm_file``).

    Contract:
    - Accounts are matched by external id, then by exact name (only an account without an
      external id of its own, or a row without one), else created. Deals are upserted by external
      id; a deal's account is found the same way, and created as a prospect when the file names
      an account that does not exist yet. An account referenced only by an id nobody knows is a
      row error ("import the accounts file first").
    - Blank cells never erase what is stored (a blank amount or close date keeps the stored one;
      a new deal gets 0 and no date). Probability: the file's, else the stage's default.
    - Importing the same file twice changes nothing the second time (every row is ``unchanged``).
    - Good rows are written and bad rows reported, unless ``all_or_nothing`` and some row is bad:
      then nothing is written. ``dry_run`` never writes. Either way the counts say what the
      import did or would do, and ``written`` says whether it was kept.
    - New rows are inserted in bulk; changed rows are saved one by one so that whatever listens to
      model saves (score freshness) hears about each change. Each created or changed row gets an
      audit event (verbs ``account.imported``, ``deal.imported``).
    - ``progress(n)`` is called with the number of rows handled after each chunk.
    """
    from .importers import ACCOUNTS, DEALS

    summary = ImportSummary(errors=list(parsed.errors), layout=parsed.layout)
    try:
        with transaction.atomic():
            if parsed.kind == ACCOUNTS:
                _import_accounts(actor, parsed.rows, summary, progress)
            elif parsed.kind == DEALS:
                _import_deals(actor, parsed.rows, summary, progress)
            if dry_run or (all_or_nothing and summary.errors):
                raise _RollBack
            summary.written = True
    except _RollBack:
        summary.written = False
    summary.errors.sort(key=lambda e: e.row)
    return summary


def _chunks(rows: list, size: int = IMPORT_CHUNK):
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]


def _audit_rows(actor, verb: str, objects_and_changes) -> None:
    events = [
        AuditEvent(
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            verb=verb,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            object_repr=str(obj)[:200],
            before=before,
            after=after,
        )
        for obj, before, after in objects_and_changes
    ]
    AuditEvent.objects.bulk_create(events, batch_size=500)


def _apply_changes(obj: Model, values: dict[str, Any]) -> tuple[dict, dict]:
    """Set the values that differ; return (before, after) of the changed fields only."""
    before, after = {}, {}
    for name, value in values.items():
        current = getattr(obj, name)
        if current != value:
            before[name] = _jsonable(current)
            after[name] = _jsonable(value)
            setattr(obj, name, value)
    return before, after


def _account_values(row, existing: Account | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if existing is None or existing.name != row.name:
        values["name"] = row.name
    if row.external_id:
        values["external_id"] = row.external_id
    for name in ("segment", "is_customer", "sector", "employees"):
        value = getattr(row, name)
        if value is not None:
            values[name] = value
    if row.arr is not None:
        values["arr"] = row.arr
    is_customer = values.get("is_customer", existing.is_customer if existing else False)
    if not is_customer:
        values["arr"] = Decimal("0.00")
    return values


def _write_chunk(actor, model, new: list, changed: list, verb: str, fields: list[str]) -> None:
    """Insert a chunk's new rows in bulk, save its changed rows one by one (so the score
    listeners see each change) and audit both."""
    model.objects.bulk_create(new, batch_size=500)
    for obj, _before, after in changed:
        obj.save(update_fields=[*after.keys(), "updated_at"])
    _audit_rows(actor, verb, [(obj, None, snapshot(obj, fields)) for obj in new] + changed)


def _import_accounts(actor, rows, summary: ImportSummary, progress) -> None:
    for start, chunk in _chunks(rows):
        by_id = {
            a.external_id: a
            for a in Account.objects.filter(
                external_id__in=[r.external_id for r in chunk if r.external_id]
            )
        }
        by_name: dict[str, Account] = {}
        for account in Account.objects.filter(name__in=[r.name for r in chunk]).order_by("pk"):
            by_name.setdefault(account.name, account)
        new, changed = [], []
        for row in chunk:
            account = by_id.get(row.external_id) if row.external_id else None
            if account is None:
                candidate = by_name.get(row.name)
                if candidate is not None and (not candidate.external_id or not row.external_id):
                    account = candidate
            values = _account_values(row, account)
            if account is None:
                account = Account(**values)
                try:
                    account.full_clean(validate_unique=False, validate_constraints=False)
                except ValidationError as exc:
                    summary.errors.extend(_validation_errors(row.row, exc))
                    continue
                new.append(account)
                by_name.setdefault(account.name, account)
                continue
            before, after = _apply_changes(account, values)
            if after:
                changed.append((account, before, after))
            else:
                summary.unchanged += 1
        _write_chunk(actor, Account, new, changed, "account.imported", ACCOUNT_IMPORT_FIELDS)
        summary.accounts_created += len(new)
        summary.accounts_updated += len(changed)
        if progress:
            progress(start + len(chunk))


def _owner_lookup() -> dict[str, Any]:
    """Owners as CRM exports name them: username, email or full name (case-insensitive)."""
    from django.contrib.auth import get_user_model

    lookup: dict[str, Any] = {}
    for user in get_user_model().objects.filter(is_active=True).order_by("pk"):
        full = f"{user.first_name} {user.last_name}".strip().lower()
        for key in (user.username.lower(), (user.email or "").lower(), full):
            if key:
                lookup.setdefault(key, user)
    return lookup


def _validation_errors(row: int, exc: ValidationError) -> list:
    from .importers import RowError

    if hasattr(exc, "error_dict"):
        return [
            RowError(row, name, " ".join(str(m) for e in errors for m in e.messages))
            for name, errors in exc.error_dict.items()
        ]
    return [RowError(row, "", " ".join(exc.messages))]


def _import_deals(actor, rows, summary: ImportSummary, progress) -> None:
    from .importers import RowError

    owners = _owner_lookup()
    for start, chunk in _chunks(rows):
        accounts_by_id = {
            a.external_id: a
            for a in Account.objects.filter(
                external_id__in={r.account_external_id for r in chunk if r.account_external_id}
            )
        }
        accounts_by_name: dict[str, Account] = {}
        for account in Account.objects.filter(
            name__in={r.account_name for r in chunk if r.account_name}
        ).order_by("pk"):
            accounts_by_name.setdefault(account.name, account)
        # Accounts named by a deal and not yet known are created first, as prospects.
        new_accounts = []
        for row in chunk:
            if row.account_external_id in accounts_by_id or not row.account_name:
                continue
            if row.account_name not in accounts_by_name:
                account = Account(
                    name=row.account_name,
                    external_id=None,
                    segment=Segment.SMB,
                )
                accounts_by_name[row.account_name] = account
                new_accounts.append(account)
        Account.objects.bulk_create(new_accounts, batch_size=500)
        _audit_rows(
            actor,
            "account.imported",
            [(a, None, snapshot(a, ACCOUNT_IMPORT_FIELDS)) for a in new_accounts],
        )
        summary.accounts_created += len(new_accounts)

        existing = {
            d.external_id: d
            for d in Deal.objects.filter(external_id__in=[r.external_id for r in chunk])
        }
        new, changed = [], []
        for row in chunk:
            account = accounts_by_id.get(row.account_external_id or "")
            if account is None and row.account_name:
                account = accounts_by_name.get(row.account_name)
            if account is None:
                summary.errors.append(
                    RowError(
                        row.row,
                        row.columns.get("account_external_id", "account"),
                        f"no account with id {row.account_external_id!r}; "
                        "import the accounts file first",
                    )
                )
                continue
            deal = existing.get(row.external_id)
            values: dict[str, Any] = {
                "account": account,
                "name": row.name,
                "stage": row.stage,
                "probability": row.probability
                if row.probability is not None
                else STAGE_PROBABILITY[row.stage],
            }
            if row.amount is not None or deal is None:
                values["amount"] = row.amount if row.amount is not None else Decimal("0.00")
            if row.close_date is not None:
                values["close_date"] = row.close_date
            owner = owners.get(row.owner.lower()) if row.owner else None
            if owner is not None:
                values["owner"] = owner
            if deal is None:
                deal = Deal(external_id=row.external_id, **values)
                try:
                    deal.full_clean(
                        exclude=["account", "owner"],
                        validate_unique=False,
                        validate_constraints=False,
                    )
                except ValidationError as exc:
                    summary.errors.extend(_validation_errors(row.row, exc))
                    continue
                new.append(deal)
                continue
            # Compare foreign keys by id: reading deal.account would cost a query per row.
            values["account_id"] = values.pop("account").pk
            if "owner" in values:
                values["owner_id"] = values.pop("owner").pk
            before, after = _apply_changes(deal, values)
            deal.account = account  # cached for the audit text, no query
            if after:
                changed.append((deal, before, after))
            else:
                summary.unchanged += 1
        _write_chunk(actor, Deal, new, changed, "deal.imported", DEAL_IMPORT_FIELDS)
        summary.deals_created += len(new)
        summary.deals_updated += len(changed)
        if progress:
            progress(start + len(chunk))


# --- Webhooks --------------------------------------------------------------------------------


def webhook_event_emit(*, event: str, data: dict[str, Any]) -> list:
    """Queue ``event`` for every active subscription that wants it; each delivery is sent by a
    task after the current transaction commits (nothing is sent for a rolled-back change).

    The body is ``{"id": <uuid>, "event": ..., "created_at": <iso>, "data": {...}}``; the id is
    also the ``X-Triage-Delivery`` header, so receivers can drop the duplicates that at-least-once
    delivery may produce. Returns the deliveries created (none when nobody subscribed).
    """
    import json
    import uuid

    from django.core.serializers.json import DjangoJSONEncoder
    from django.utils import timezone

    from .models import WebhookDelivery, WebhookSubscription
    from .tasks import webhook_delivery_send

    subscriptions = [
        s for s in WebhookSubscription.objects.filter(active=True) if event in (s.events or [])
    ]
    if not subscriptions:
        return []
    now = timezone.now().isoformat()
    deliveries = []
    for subscription in subscriptions:
        event_id = uuid.uuid4()
        deliveries.append(
            WebhookDelivery(
                subscription=subscription,
                event=event,
                event_id=event_id,
                payload={
                    "id": str(event_id),
                    "event": event,
                    "created_at": now,
                    "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder)),
                },
            )
        )
    created = WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in created:
        transaction.on_commit(lambda pk=delivery.pk: webhook_delivery_send.delay(pk), robust=True)
    return created


def webhook_delivery_attempt(*, delivery_id: int):
    """Make one HTTP attempt for a delivery and log it as a :class:`WebhookAttempt`.

    A 2xx answer marks the delivery delivered. Anything else (another status, a timeout, a refused
    connection) marks it ``retrying`` with the time of the next try, or ``failed`` once
    ``WEBHOOK_MAX_ATTEMPTS`` tries have been made. Returns the delivery, or None when there is
    nothing to do (gone, already delivered or given up, subscription switched off).
    """
    import json
    import time
    import urllib.error
    import urllib.request

    from django.conf import settings
    from django.utils import timezone

    from . import webhooks
    from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery

    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        return None
    subscription = delivery.subscription
    if not subscription.active:
        return None
    number = delivery.attempts + 1
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = int(time.time())
    http_request = urllib.request.Request(  # noqa: S310 - http(s) only, checked on subscribe
        subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Triage-Webhooks/1",
            webhooks.TIMESTAMP_HEADER: str(timestamp),
            webhooks.SIGNATURE_HEADER: webhooks.sign(
                secret=subscription.secret, timestamp=timestamp, body=body
            ),
            webhooks.EVENT_HEADER: delivery.event,
            webhooks.DELIVERY_HEADER: str(delivery.event_id),
        },
    )
    status_code, error, response_body = None, "", ""
    started = time.monotonic()
    try:
        if not subscription.url.lower().startswith(("http://", "https://")):
            raise ValueError("only http:// and https:// addresses can receive webhooks")
        with urllib.request.urlopen(  # noqa: S310 - scheme checked just above
            http_request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
        ) as response:
            status_code = response.status
            response_body = response.read(1000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status_code = exc.code
        response_body = exc.read(1000).decode("utf-8", "replace") if exc.fp else ""
    except (OSError, ValueError) as exc:
        error = (str(getattr(exc, "reason", "") or exc) or exc.__class__.__name__)[:500]
    duration_ms = int((time.monotonic() - started) * 1000)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        status_code=status_code,
        error=error,
        response_body=response_body[:1000],
        duration_ms=duration_ms,
    )
    now = timezone.now()
    delivery.attempts = number
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif number >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + dt.timedelta(
            seconds=webhooks.backoff_seconds(
                number,
                base=settings.WEBHOOK_RETRY_BASE_SECONDS,
                maximum=settings.WEBHOOK_RETRY_MAX_SECONDS,
            )
        )
    delivery.save(update_fields=["attempts", "status", "delivered_at", "next_attempt_at"])
    return delivery


# --- Import jobs (the upload page) -----------------------------------------------------------


def import_progress_key(job_id: int) -> str:
    return f"crm-import:{job_id}:processed"


@transaction.atomic
def import_job_start(
    *, actor, filename: str, data: bytes, dry_run: bool = False, all_or_nothing: bool = False
):
    """Record an uploaded CRM file and run it in a background task after commit.

    The file is decoded here (UTF-8 with or without BOM, else Windows-1252) and kept in the job
    row, so whichever worker picks the task up can read it. Returns the job.
    """
    from .importers import decode
    from .models import ImportJob
    from .tasks import crm_import_run

    job = ImportJob.objects.create(
        created_by=actor,
        filename=filename[:255],
        content=decode(data).replace("\x00", ""),
        dry_run=dry_run,
        all_or_nothing=all_or_nothing,
    )
    audit_record(
        actor=actor,
        verb="import.started",
        obj=job,
        after={"filename": job.filename, "dry_run": dry_run, "all_or_nothing": all_or_nothing},
    )
    transaction.on_commit(lambda: crm_import_run.delay(job.pk), robust=True)
    return job


def import_job_run(*, job_id: int):
    """Run a waiting import job; a job that is already running or finished is left alone (so a
    repeated task does nothing). Progress is published in the cache while it runs.

    Returns the job, or None when it does not exist or was claimed by someone else.
    """
    from django.core.cache import cache
    from django.utils import timezone

    from .importers import parse_crm_file
    from .models import ImportJob, ImportStatus

    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(
        status=ImportStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    job = ImportJob.objects.get(pk=job_id)
    try:
        parsed = parse_crm_file(job.content)
        ImportJob.objects.filter(pk=job_id).update(
            layout=parsed.layout, total_rows=parsed.total_rows
        )
        key = import_progress_key(job_id)

        def progress(done: int) -> None:
            cache.set(key, done, timeout=3600)

        summary = crm_import(
            actor=job.created_by,
            parsed=parsed,
            dry_run=job.dry_run,
            all_or_nothing=job.all_or_nothing,
            progress=progress,
        )
    except Exception as exc:
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.FAILED,
            failure=f"{exc.__class__.__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportStatus.DONE,
        processed_rows=parsed.total_rows,
        result={
            **summary.as_dict(),
            "rows_rejected": summary.rows_rejected,
            "written": summary.written,
        },
        errors=[e.as_dict() for e in summary.errors[:1000]],
        finished_at=timezone.now(),
    )
    cache.delete(import_progress_key(job_id))
    job.refresh_from_db()
    return job


ACCOUNT_FIELDS = ["name", "segment", "is_customer", "arr", "external_id"]


@transaction.atomic
def account_update(*, actor, account: Account, **changes: Any) -> Account:
    """Change an account's name, segment, customer flag, ARR or external id. A prospect's ARR is
    always 0. Validates before writing; audits ``account.updated`` when something changed."""
    unknown = set(changes) - set(ACCOUNT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown account fields: {', '.join(sorted(unknown))}.")
    before = snapshot(account, ACCOUNT_FIELDS)
    for name, value in changes.items():
        setattr(account, name, value)
    if "name" in changes:
        account.name = (account.name or "").strip()
    account.external_id = account.external_id or None
    if not account.is_customer:
        account.arr = Decimal(0)
    account.full_clean()
    after = snapshot(account, ACCOUNT_FIELDS)
    if after != before:
        account.save()
        audit_record(actor=actor, verb="account.updated", obj=account, before=before, after=after)
    return account
