"""API representations of accounts, deals, asks, decisions, escalations and webhooks.

Output serializers list their fields explicitly (DESIGN section 8); input serializers validate the
shape only and hand the values to a service, which owns the rules.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..models import (
    DECISION_STATUS,
    Account,
    Ask,
    Deal,
    Decision,
    DecisionKind,
    Escalation,
    EscalationOutcome,
    FeatureRequest,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

User = get_user_model()


class UserField(serializers.SlugRelatedField):
    """Users appear by username."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        super().__init__(**kwargs)


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "name", "segment", "is_customer", "arr", "external_id"]
        extra_kwargs = {
            "external_id": {"required": False, "allow_null": True},
            "arr": {"min_value": 0},
        }

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the account a name.")
        return value.strip()

    def validate_external_id(self, value):
        return value or None


class DealSerializer(serializers.ModelSerializer):
    owner = UserField(queryset=User.objects.filter(is_active=True), required=False, allow_null=True)
    probability = serializers.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        allow_null=True,
        help_text="0-100; defaults by stage when left out.",
    )
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Deal
        fields = [
            "id",
            "account",
            "name",
            "amount",
            "stage",
            "probability",
            "close_date",
            "owner",
            "external_id",
            "is_open",
        ]
        extra_kwargs = {
            "external_id": {"required": False, "allow_null": True},
            "amount": {"min_value": 0},
        }

    def validate_external_id(self, value):
        return value or None


class AskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Ask
        fields = ["id", "request", "account", "deal", "importance", "note"]
        extra_kwargs = {"note": {"required": False}, "deal": {"required": False}}


class DecisionSerializer(serializers.ModelSerializer):
    decided_by = UserField(read_only=True, allow_null=True)

    class Meta:
        model = Decision
        fields = [
            "id",
            "request",
            "kind",
            "rationale",
            "decided_by",
            "decided_at",
            "target_quarter",
            "revisit_on",
            "escalation",
        ]
        read_only_fields = fields


class DecisionInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DecisionKind.choices)
    rationale = serializers.CharField(max_length=10_000)
    target_quarter = serializers.RegexField(
        r"^\d{4}-Q[1-4]$", required=False, allow_blank=True, default="", max_length=7
    )
    revisit_on = serializers.DateField(required=False, allow_null=True, default=None)
    expected_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        help_text="The request version you saw; a stale one gets 409 Conflict.",
    )


class EscalationSerializer(serializers.ModelSerializer):
    outcome = serializers.ChoiceField(
        choices=EscalationOutcome.choices, allow_blank=True, read_only=True
    )
    raised_by = UserField(read_only=True, allow_null=True)
    resolved_by = UserField(read_only=True, allow_null=True)

    class Meta:
        model = Escalation
        fields = [
            "id",
            "request",
            "status",
            "deals",
            "business_case",
            "outcome_requested",
            "due_at",
            "raised_by",
            "created_at",
            "outcome",
            "resolution_rationale",
            "compromise_terms",
            "target_quarter",
            "resolved_by",
            "resolved_at",
        ]
        read_only_fields = fields


class EscalationInputSerializer(serializers.Serializer):
    request = serializers.PrimaryKeyRelatedField(queryset=FeatureRequest.objects.all())
    deals = serializers.PrimaryKeyRelatedField(
        queryset=Deal.objects.all(), many=True, required=False, default=list
    )
    business_case = serializers.CharField(max_length=10_000)
    outcome_requested = serializers.CharField(max_length=10_000)


class EscalationResolveSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=EscalationOutcome.choices)
    rationale = serializers.CharField(max_length=10_000)
    target_quarter = serializers.RegexField(
        r"^\d{4}-Q[1-4]$", required=False, allow_blank=True, default="", max_length=7
    )
    compromise_terms = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=10_000
    )
    compromise_status = serializers.ChoiceField(
        choices=[(status.value, status.label) for status in DECISION_STATUS.values()],
        required=False,
        allow_blank=True,
        default="",
        help_text="For a compromise: the status the request moves to.",
    )


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        allow_empty=False,
        max_length=len(WebhookEvent.choices),
    )
    secret = serializers.CharField(
        write_only=True,
        min_length=16,
        max_length=200,
        help_text="Shared secret for the X-Triage-Signature HMAC; never shown again.",
    )
    url = serializers.URLField(max_length=500, help_text="http:// or https:// address.")

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "secret", "description", "active", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http:// or https:// address.")
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value))


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "status_code", "error", "duration_ms", "created_at"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempts_log = WebhookAttemptSerializer(source="tries", many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_id",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "attempts_log",
        ]
        read_only_fields = fields


class CrmDealSerializer(serializers.Serializer):
    """One deal as a CRM sends it; stage labels are read like the importer reads files."""

    external_id = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    stage = serializers.CharField(max_length=60, help_text="Salesforce/HubSpot label or id.")
    account_external_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    account_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    amount = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", help_text="e.g. 1250000.00"
    )
    probability = serializers.CharField(max_length=10, required=False, allow_blank=True, default="")
    close_date = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    owner = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class CrmDealsPayloadSerializer(serializers.Serializer):
    deals = CrmDealSerializer(many=True, allow_empty=False, max_length=1000)


class CrmImportResultSerializer(serializers.Serializer):
    accounts_created = serializers.IntegerField()
    accounts_updated = serializers.IntegerField()
    deals_created = serializers.IntegerField()
    deals_updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = serializers.IntegerField()
