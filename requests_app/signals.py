"""Outbound webhook events, raised when the rows that record them are written.

Receivers only enqueue: the event is built and queued after the transaction commits (so a rolled
back change announces nothing), by ``services.webhook_event_emit``. Status changes and escalation
resolutions are written with conditional UPDATEs that send no model signal, so they are taken
from the audit events that every service records for them.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import AuditEvent, Decision, Escalation, FeatureRequest, WebhookEvent


def _emit_after_commit(event: str, build) -> None:
    def send() -> None:
        from .models import WebhookSubscription
        from .services import webhook_event_emit

        if not WebhookSubscription.objects.filter(active=True).exists():
            return
        data = build()
        if data is not None:
            webhook_event_emit(event=event, data=data)

    transaction.on_commit(send, robust=True)


def request_payload(request_id: int) -> dict | None:
    row = (
        FeatureRequest.objects.filter(pk=request_id)
        .values(
            "id",
            "title",
            "problem",
            "desired_outcome",
            "product_area",
            "status",
            "effort",
            "merged_into",
            "created_by__username",
            "created_at",
        )
        .first()
    )
    if row is None:
        return None
    row["created_by"] = row.pop("created_by__username")
    return row


def _decision_payload(decision_id: int) -> dict | None:
    from .api.serializers import DecisionSerializer

    decision = Decision.objects.select_related("decided_by").filter(pk=decision_id).first()
    if decision is None:
        return None
    return {
        "decision": dict(DecisionSerializer(decision).data),
        "request": request_payload(decision.request_id),
    }


def _escalation_payload(escalation_id: int) -> dict | None:
    from .api.serializers import EscalationSerializer

    escalation = (
        Escalation.objects.select_related("raised_by", "resolved_by")
        .prefetch_related("deals")
        .filter(pk=escalation_id)
        .first()
    )
    if escalation is None:
        return None
    return {
        "escalation": dict(EscalationSerializer(escalation).data),
        "request": request_payload(escalation.request_id),
    }


@receiver(post_save, sender=FeatureRequest, dispatch_uid="webhook_request_created")
def request_created(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        pk = instance.pk
        _emit_after_commit(
            WebhookEvent.REQUEST_CREATED, lambda: _wrap("request", request_payload(pk))
        )


@receiver(post_save, sender=Decision, dispatch_uid="webhook_decision_recorded")
def decision_recorded(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        pk = instance.pk
        _emit_after_commit(WebhookEvent.DECISION_RECORDED, lambda: _decision_payload(pk))


@receiver(post_save, sender=Escalation, dispatch_uid="webhook_escalation_opened")
def escalation_opened(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        pk = instance.pk
        _emit_after_commit(WebhookEvent.ESCALATION_OPENED, lambda: _escalation_payload(pk))


@receiver(post_save, sender=AuditEvent, dispatch_uid="webhook_from_audit")
def audited(sender, instance, created, raw=False, **kwargs):
    if not created or raw:
        return
    if instance.object_type == "requests_app.featurerequest":
        before, after = instance.before or {}, instance.after or {}
        if "status" in before and "status" in after and before["status"] != after["status"]:
            pk = int(instance.object_id)
            change = {
                "from": before["status"],
                "to": after["status"],
                "actor": instance.actor.get_username() if instance.actor_id else None,
            }
            _emit_after_commit(
                WebhookEvent.REQUEST_STATUS_CHANGED,
                lambda: _with(_wrap("request", request_payload(pk)), change),
            )
    elif instance.object_type == "requests_app.escalation" and instance.verb == (
        "escalation.resolved"
    ):
        pk = int(instance.object_id)
        _emit_after_commit(WebhookEvent.ESCALATION_RESOLVED, lambda: _escalation_payload(pk))


def _wrap(key: str, value: dict | None) -> dict | None:
    return None if value is None else {key: value}


def _with(data: dict | None, extra: dict) -> dict | None:
    return None if data is None else {**data, **extra}
