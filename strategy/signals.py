"""Keep scores fresh: every write to a scoring input marks the affected scores stale and schedules a
recompute after commit (DESIGN section 4). Handlers only work out *which* scores a change affects
and *why*, then call :func:`strategy.services.scores_mark_stale`.

Which scores a change affects:
- a deal → the requests its asks link it to; an ask → its request (both, when it moves);
- an account's name → the requests it asked for; its ARR or customer status → every request
  (breadth divides by the whole customer base);
- an alignment, an effort, RICE/WSJF inputs, an escalation → that request;
- a merge → the merged request and the one it was merged into;
- a theme's weight or active flag, a new policy version → every request.

Writes through ``QuerySet.update`` send no model signal. Services that change a request or an
escalation that way (conditional updates for optimistic concurrency) still audit the change, and
the audit event is read instead. Other bulk writes (``bulk_create``, unaudited ``update``) call
``scores_mark_stale`` themselves, or leave it to the sweep for requests without a score.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from requests_app.models import Account, Ask, AuditEvent, Deal, Escalation, FeatureRequest
from triage.templatetags.triage_tags import money

from .models import ScoringPolicy, StrategicTheme, ThemeAlignment
from .services import (
    REQUEST_SCORE_INPUTS,
    RICE_INPUT_FIELDS,
    WSJF_INPUT_FIELDS,
    scores_mark_stale,
)

TRACKED: dict[type, list[str]] = {
    Deal: ["name", "account_id", "amount", "stage", "probability", "close_date"],
    Ask: ["request_id", "account_id", "deal_id", "importance"],
    Account: ["name", "is_customer", "arr"],
    FeatureRequest: REQUEST_SCORE_INPUTS,
    StrategicTheme: ["name", "weight", "active"],
    ThemeAlignment: ["request_id", "theme_id", "strength"],
    Escalation: ["request_id", "status"],
}
_BEFORE = "_scoring_before"
_LINKED = "_scoring_linked"


def _date(value) -> str:
    return value.strftime("%b %d, %Y") if value else "no date"


def _remember_before(sender, instance, raw=False, **kwargs) -> None:
    """Keep the stored values of the tracked fields, to tell what changed and say it."""
    if raw:
        return
    before = None
    if instance.pk is not None:
        before = sender._default_manager.filter(pk=instance.pk).values(*TRACKED[sender]).first()
    setattr(instance, _BEFORE, before)


def _changes(instance) -> dict[str, tuple[Any, Any]]:
    before = getattr(instance, _BEFORE, None) or {}
    return {
        name: (before.get(name), getattr(instance, name))
        for name in TRACKED[type(instance)]
        if name in before and before[name] != getattr(instance, name)
    }


def _requests_of_deal(deal_id: int) -> set[int]:
    return set(Ask.objects.filter(deal_id=deal_id).values_list("request_id", flat=True))


def _requests_of_account(account_id: int) -> set[int]:
    return set(
        Ask.objects.filter(account_id=account_id).values_list("request_id", flat=True)
    ) | set(Ask.objects.filter(deal__account_id=account_id).values_list("request_id", flat=True))


# --- deals ---------------------------------------------------------------------------------------


def deal_saved(sender, instance: Deal, created: bool, raw=False, **kwargs) -> None:
    if raw or created:
        return  # a new deal has no asks yet
    changes = _changes(instance)
    if not changes:
        return
    parts = []
    for name, (old, new) in changes.items():
        if name == "amount":
            parts.append(f"amount {money(old)} → {money(new)}")
        elif name == "stage":
            parts.append(f"stage {old} → {new}".replace("_", " "))
        elif name == "probability":
            parts.append(f"probability {old}% → {new}%")
        elif name == "close_date":
            parts.append(f"close date {_date(old)} → {_date(new)}")
        elif name == "name":
            parts.append(f"renamed from {old}")
        elif name == "account_id":
            parts.append("moved to another account")
    scores_mark_stale(
        request_ids=_requests_of_deal(instance.pk),
        cause=f"deal {instance.name} " + ", ".join(parts),
    )


def deal_deleting(sender, instance: Deal, **kwargs) -> None:
    setattr(instance, _LINKED, _requests_of_deal(instance.pk))


def deal_deleted(sender, instance: Deal, **kwargs) -> None:
    scores_mark_stale(
        request_ids=getattr(instance, _LINKED, set()), cause=f"deal {instance.name} deleted"
    )


# --- asks ----------------------------------------------------------------------------------------


def _account_name(account_id: int | None) -> str:
    if account_id is None:
        return "an account"
    return Account.objects.filter(pk=account_id).values_list("name", flat=True).first() or (
        "an account"
    )


def ask_saved(sender, instance: Ask, created: bool, raw=False, **kwargs) -> None:
    if raw:
        return
    who = _account_name(instance.account_id)
    if created:
        scores_mark_stale(
            request_ids=[instance.request_id],
            cause=f"ask added: {who} ({instance.get_importance_display()})",
            create_missing=True,
        )
        return
    changes = _changes(instance)
    if not changes:
        return
    ids = {instance.request_id}
    if "request_id" in changes:
        ids.add(changes["request_id"][0])
        cause = f"ask from {who} moved from #{changes['request_id'][0]} to #{instance.request_id}"
    elif "importance" in changes:
        old, new = changes["importance"]
        labels = dict(instance._meta.get_field("importance").choices)
        cause = f"ask from {who}: importance {labels.get(old, old)} → {labels.get(new, new)}"
    elif "deal_id" in changes:
        cause = f"ask from {who}: linked deal changed"
    else:
        cause = f"ask from {who} changed"
    scores_mark_stale(request_ids=ids, cause=cause)


def ask_deleted(sender, instance: Ask, **kwargs) -> None:
    scores_mark_stale(
        request_ids=[instance.request_id],
        cause=f"ask removed: {_account_name(instance.account_id)}",
    )


# --- accounts ------------------------------------------------------------------------------------


def account_saved(sender, instance: Account, created: bool, raw=False, **kwargs) -> None:
    if raw:
        return
    if created:
        if instance.is_customer:
            scores_mark_stale(cause=f"customer {instance.name} added to the customer base")
        return
    changes = _changes(instance)
    if "is_customer" in changes:
        became = "became a customer" if instance.is_customer else "is no longer a customer"
        scores_mark_stale(cause=f"account {instance.name} {became}")
    elif "arr" in changes and instance.is_customer:
        old, new = changes["arr"]
        scores_mark_stale(cause=f"account {instance.name} ARR {money(old)} → {money(new)}")
    elif "name" in changes:
        scores_mark_stale(
            request_ids=_requests_of_account(instance.pk),
            cause=f"account {changes['name'][0]} renamed to {instance.name}",
        )


def account_deleting(sender, instance: Account, **kwargs) -> None:
    setattr(instance, _LINKED, _requests_of_account(instance.pk))


def account_deleted(sender, instance: Account, **kwargs) -> None:
    cause = f"account {instance.name} deleted"
    if instance.is_customer:
        scores_mark_stale(cause=cause)
    else:
        scores_mark_stale(request_ids=getattr(instance, _LINKED, set()), cause=cause)


# --- requests ------------------------------------------------------------------------------------

_RICE = set(RICE_INPUT_FIELDS)
_WSJF = set(WSJF_INPUT_FIELDS)


def request_saved(sender, instance: FeatureRequest, created: bool, raw=False, **kwargs) -> None:
    if raw:
        return
    if created:
        scores_mark_stale(request_ids=[instance.pk], cause="request submitted", create_missing=True)
        return
    changes = _changes(instance)
    ids = {instance.pk}
    causes = []
    if "merged_into_id" in changes or (
        "status" in changes and "merged" in (changes["status"][0], changes["status"][1])
    ):
        old_target = changes.get("merged_into_id", (None, None))[0]
        ids |= {old_target, instance.merged_into_id}
        if instance.merged_into_id:
            causes.append(f"#{instance.pk} merged into #{instance.merged_into_id}")
        else:
            causes.append(f"#{instance.pk} unmerged")
    if "effort" in changes:
        old, new = changes["effort"]
        causes.append(
            f"effort {old if old is not None else 'unknown'} → "
            f"{new if new is not None else 'unknown'} points"
        )
    if _RICE & changes.keys():
        causes.append("RICE inputs changed")
    if _WSJF & changes.keys():
        causes.append("WSJF inputs changed")
    if causes:
        scores_mark_stale(request_ids=ids, cause="; ".join(causes))


# --- themes and alignments -----------------------------------------------------------------------


def theme_saved(sender, instance: StrategicTheme, created: bool, raw=False, **kwargs) -> None:
    if raw:
        return
    if created:
        if instance.active:
            scores_mark_stale(cause=f"theme {instance.name} added (weight {instance.weight})")
        return
    changes = _changes(instance)
    parts = []
    if "weight" in changes:
        parts.append(f"weight {changes['weight'][0]} → {changes['weight'][1]}")
    if "active" in changes:
        parts.append("activated" if instance.active else "deactivated")
    if parts:
        scores_mark_stale(cause=f"theme {instance.name} " + ", ".join(parts))
    elif "name" in changes:
        scores_mark_stale(
            request_ids=ThemeAlignment.objects.filter(theme=instance).values_list(
                "request_id", flat=True
            ),
            cause=f"theme {changes['name'][0]} renamed to {instance.name}",
        )


def theme_deleted(sender, instance: StrategicTheme, **kwargs) -> None:
    if instance.active:
        scores_mark_stale(cause=f"theme {instance.name} deleted")


def _theme_name(theme_id: int) -> str:
    return (
        StrategicTheme.objects.filter(pk=theme_id).values_list("name", flat=True).first()
        or "a theme"
    )


def alignment_saved(sender, instance: ThemeAlignment, created: bool, raw=False, **kwargs) -> None:
    if raw:
        return
    labels = dict(instance._meta.get_field("strength").choices)
    theme = _theme_name(instance.theme_id)
    if created:
        cause = f"alignment with {theme} set to {labels.get(instance.strength, instance.strength)}"
        scores_mark_stale(request_ids=[instance.request_id], cause=cause)
        return
    changes = _changes(instance)
    if not changes:
        return
    old = changes.get("strength", (instance.strength,))[0]
    cause = (
        f"alignment with {theme}: {labels.get(old, old)} → "
        f"{labels.get(instance.strength, instance.strength)}"
    )
    ids = {instance.request_id, changes.get("request_id", (None,))[0]}
    scores_mark_stale(request_ids=ids, cause=cause)


def alignment_deleted(sender, instance: ThemeAlignment, **kwargs) -> None:
    scores_mark_stale(
        request_ids=[instance.request_id],
        cause=f"alignment with {_theme_name(instance.theme_id)} removed",
    )


# --- policy and escalations ----------------------------------------------------------------------


def policy_saved(sender, instance: ScoringPolicy, created: bool, raw=False, **kwargs) -> None:
    if raw or not created:
        return
    reason = f": {instance.reason}" if instance.reason else ""
    scores_mark_stale(cause=f"policy v{instance.version}{reason}")


def escalation_saved(sender, instance: Escalation, created: bool, raw=False, **kwargs) -> None:
    if raw:
        return
    if created:
        scores_mark_stale(request_ids=[instance.request_id], cause="escalation opened")
        return
    if "status" in _changes(instance):
        scores_mark_stale(
            request_ids=[instance.request_id], cause=f"escalation {instance.status}".strip()
        )


def escalation_deleted(sender, instance: Escalation, **kwargs) -> None:
    scores_mark_stale(request_ids=[instance.request_id], cause="escalation deleted")


# --- writes that bypass save(): conditional updates audited by a service ----------------------

_SCORED_REQUEST_FIELDS = {"effort", "status", "merged_into", "merged_into_id"} | _RICE | _WSJF


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def audit_recorded(sender, instance: AuditEvent, created: bool, raw=False, **kwargs) -> None:
    """Services that change a request or an escalation with a conditional ``update()`` (optimistic
    concurrency) send no model signal, but they always audit. Read the audit event: when it shows
    a change to a scoring input, mark the scores it affects."""
    if raw or not created:
        return
    before, after = instance.before or {}, instance.after or {}
    if instance.object_type == "requests_app.featurerequest":
        changed = {
            key
            for key in _SCORED_REQUEST_FIELDS & (before.keys() | after.keys())
            if before.get(key) != after.get(key)
        }
        if not changed and "merge" not in instance.verb:
            return
        source = _int(instance.object_id)
        ids = {source}
        for key in ("merged_into", "merged_into_id", "target", "survivor"):
            ids |= {_int(before.get(key)), _int(after.get(key))}
        causes = []
        target = _int(
            after.get("merged_into") or after.get("merged_into_id") or after.get("target")
        )
        if "merge" in instance.verb or target:
            causes.append(f"#{source} merged into #{target}" if target else "requests merged")
        if "effort" in changed:
            old, new = before.get("effort"), after.get("effort")
            causes.append(
                f"effort {old if old is not None else 'unknown'} → "
                f"{new if new is not None else 'unknown'} points"
            )
        if changed & _RICE:
            causes.append("RICE inputs changed")
        if changed & _WSJF:
            causes.append("WSJF inputs changed")
        if causes:
            scores_mark_stale(request_ids=ids, cause="; ".join(causes))
    elif instance.object_type == "requests_app.escalation":
        request_id = (
            Escalation.objects.filter(pk=_int(instance.object_id))
            .values_list("request_id", flat=True)
            .first()
        )
        if request_id:
            scores_mark_stale(request_ids=[request_id], cause=instance.verb.replace(".", " "))


def connect() -> None:
    """Wire the handlers (called from ``StrategyConfig.ready``)."""
    for model in TRACKED:
        pre_save.connect(_remember_before, sender=model, dispatch_uid=f"scoring-before-{model}")
    pairs = [
        (post_save, Deal, deal_saved),
        (pre_delete, Deal, deal_deleting),
        (post_delete, Deal, deal_deleted),
        (post_save, Ask, ask_saved),
        (post_delete, Ask, ask_deleted),
        (post_save, Account, account_saved),
        (pre_delete, Account, account_deleting),
        (post_delete, Account, account_deleted),
        (post_save, FeatureRequest, request_saved),
        (post_save, StrategicTheme, theme_saved),
        (post_delete, StrategicTheme, theme_deleted),
        (post_save, ThemeAlignment, alignment_saved),
        (post_delete, ThemeAlignment, alignment_deleted),
        (post_save, ScoringPolicy, policy_saved),
        (post_save, Escalation, escalation_saved),
        (post_delete, Escalation, escalation_deleted),
        (post_save, AuditEvent, audit_recorded),
    ]
    for signal, model, handler in pairs:
        signal.connect(handler, sender=model, dispatch_uid=f"scoring-{handler.__name__}")
