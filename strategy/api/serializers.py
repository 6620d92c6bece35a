"""API representations of requests (with their score), scores, themes, alignments and the policy."""

from __future__ import annotations

from functools import cached_property

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from requests_app.models import Account, Deal, FeatureRequest, Importance, ProductArea

from ..models import RequestScore, ScoringPolicy, StrategicTheme, ThemeAlignment

SCORE_FIELDS = [
    "total",
    "value",
    "strategic_fit",
    "customer_breadth",
    "revenue_at_stake",
    "effort_factor",
    "flags",
    "explanation",
    "policy_version",
    "computed_at",
    "stale",
]


class ScoreSerializer(serializers.ModelSerializer):
    flags = serializers.ListField(child=serializers.CharField(), read_only=True)
    explanation = serializers.DictField(
        read_only=True, help_text="Each component with its inputs; see the scoring docs."
    )

    class Meta:
        model = RequestScore
        fields = SCORE_FIELDS
        read_only_fields = SCORE_FIELDS


def score_of(request: FeatureRequest) -> RequestScore:
    """The stored score, or a zero score marked stale while none has been computed yet."""
    try:
        return request.score
    except RequestScore.DoesNotExist:
        return RequestScore(request=request)


class RequestSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    score = serializers.SerializerMethodField()

    class Meta:
        model = FeatureRequest
        fields = [
            "id",
            "title",
            "problem",
            "desired_outcome",
            "product_area",
            "status",
            "effort",
            "merged_into",
            "created_by",
            "created_at",
            "score",
            "version",
        ]
        read_only_fields = fields

    @cached_property
    def _score_serializer(self) -> ScoreSerializer:
        # One for every row of a list: building a serializer's fields costs more than using them.
        return ScoreSerializer()

    @extend_schema_field(ScoreSerializer)
    def get_score(self, obj: FeatureRequest) -> dict:
        return self._score_serializer.to_representation(score_of(obj))


class RequestSubmitSerializer(serializers.Serializer):
    """A new request with its first ask (the account that needs it, optionally a deal)."""

    title = serializers.CharField(max_length=200)
    problem = serializers.CharField(max_length=20_000)
    desired_outcome = serializers.CharField(
        max_length=20_000, required=False, allow_blank=True, default=""
    )
    who_affected = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    product_area = serializers.ChoiceField(choices=ProductArea.choices)
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all())
    deal = serializers.PrimaryKeyRelatedField(
        queryset=Deal.objects.all(), required=False, allow_null=True, default=None
    )
    importance = serializers.ChoiceField(
        choices=Importance.choices, required=False, default=Importance.IMPORTANT
    )
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class RequestEffortSerializer(serializers.Serializer):
    effort = serializers.IntegerField(
        min_value=1, max_value=1000, allow_null=True, help_text="Points; null when unknown."
    )
    expected_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        help_text="The version you saw; a stale one gets 409 Conflict.",
    )


class ThemeSerializer(serializers.ModelSerializer):
    weight = serializers.IntegerField(min_value=0, max_value=100, required=False)

    class Meta:
        model = StrategicTheme
        fields = ["id", "name", "description", "weight", "horizon", "active"]

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the theme a name.")
        return value.strip()


class AlignmentSerializer(serializers.ModelSerializer):
    strength = serializers.IntegerField(
        min_value=0, max_value=3, help_text="0 none, 1 weak, 2 medium, 3 strong."
    )

    class Meta:
        model = ThemeAlignment
        fields = ["id", "request", "theme", "strength"]
        # One row per (request, theme): posting again changes the strength, so the unique
        # together check of a plain create does not apply.
        validators: list = []


class AlignmentStrengthSerializer(serializers.Serializer):
    strength = serializers.IntegerField(min_value=0, max_value=3)


POLICY_FIELDS = [
    "weight_strategic",
    "weight_breadth",
    "weight_revenue",
    "breadth_ref",
    "revenue_ref",
    "effort_ref",
    "importance_nice_to_have",
    "importance_important",
    "importance_critical",
    "importance_blocker",
    "urgency_near_days",
    "urgency_far_days",
    "urgency_floor",
    "single_deal_share",
    "single_deal_max_breadth",
    "single_deal_max_fit",
    "strategic_no_demand_min_fit",
]


class PolicySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ScoringPolicy
        fields = ["version", *POLICY_FIELDS, "reason", "created_by", "created_at"]
        read_only_fields = fields


class PolicyUpdateSerializer(serializers.Serializer):
    """The parameters to change (any subset) and why; the result is a new policy version."""

    reason = serializers.CharField(max_length=2000)
    weight_strategic = serializers.FloatField(min_value=0, max_value=100, required=False)
    weight_breadth = serializers.FloatField(min_value=0, max_value=100, required=False)
    weight_revenue = serializers.FloatField(min_value=0, max_value=100, required=False)
    breadth_ref = serializers.FloatField(min_value=0.0001, max_value=1e6, required=False)
    revenue_ref = serializers.FloatField(min_value=1, max_value=1e12, required=False)
    effort_ref = serializers.FloatField(min_value=0.1, max_value=1e6, required=False)
    importance_nice_to_have = serializers.FloatField(min_value=0, max_value=100, required=False)
    importance_important = serializers.FloatField(min_value=0, max_value=100, required=False)
    importance_critical = serializers.FloatField(min_value=0, max_value=100, required=False)
    importance_blocker = serializers.FloatField(min_value=0, max_value=100, required=False)
    urgency_near_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    urgency_far_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    urgency_floor = serializers.FloatField(min_value=0, max_value=1, required=False)
    single_deal_share = serializers.FloatField(min_value=0, max_value=1, required=False)
    single_deal_max_breadth = serializers.FloatField(min_value=0, max_value=100, required=False)
    single_deal_max_fit = serializers.FloatField(min_value=0, max_value=100, required=False)
    strategic_no_demand_min_fit = serializers.FloatField(min_value=0, max_value=100, required=False)
