"""Writes and business rules for accounts, deals, requests and their audit trail.

Every function that changes data takes an ``actor`` and records an :class:`AuditEvent`.
"""

from __future__ import annotations

import datetime as dt
import re
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
      the same kind is recorded with the executive's rationale.
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
    request = FeatureRequest.objects.select_for_update().get(pk=escalation.request_id)
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
    """The submitter edits the wording of their own request while it is still new.

    Only :data:`SALES_EDITABLE_FIELDS` may change (never status, effort, scores or themes). The
    write is conditional on the status still being new, so an edit racing a product decision
    raises :class:`ConflictError` instead of rewriting a request product has already decided.
    """
    from .models import RequestStatus

    unknown = set(changes) - set(SALES_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    if actor is None or request.created_by_id != actor.pk:
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

    locked = FeatureRequest.objects.select_for_update().get(pk=request.pk)
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
