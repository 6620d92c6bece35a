"""Writes and business rules for accounts, deals, requests and their audit trail.

Every function that changes data takes an ``actor`` and records an :class:`AuditEvent`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from .models import (
    STAGE_PROBABILITY,
    Account,
    Ask,
    AuditEvent,
    Deal,
    Escalation,
    FeatureRequest,
    Importance,
    Notification,
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
