"""Strategic themes, alignments, the scoring policy and the scores it produces."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from requests_app.models import FeatureRequest


class Horizon(models.TextChoices):
    QUARTER = "quarter", "This quarter"
    YEAR = "year", "This year"
    LONG_TERM = "long_term", "3-5 years"


class StrategicTheme(models.Model):
    """A strategic goal; its weight says how much it counts in strategic fit."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    weight = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    horizon = models.CharField(max_length=12, choices=Horizon.choices, default=Horizon.YEAR)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-active", "-weight", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=0, weight__lte=100), name="theme_weight_0_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Strength(models.IntegerChoices):
    NONE = 0, "None"
    WEAK = 1, "Weak"
    MEDIUM = 2, "Medium"
    STRONG = 3, "Strong"


class ThemeAlignment(models.Model):
    """How strongly a request serves a theme, set by product."""

    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="alignments")
    theme = models.ForeignKey(StrategicTheme, on_delete=models.CASCADE, related_name="alignments")
    strength = models.PositiveSmallIntegerField(choices=Strength.choices, default=Strength.NONE)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "theme"], name="one_alignment_per_theme"),
            models.CheckConstraint(
                condition=Q(strength__gte=0, strength__lte=3), name="alignment_strength_0_3"
            ),
        ]
        indexes = [models.Index(fields=["theme", "strength"], name="alignment_theme_strength")]

    def __str__(self) -> str:
        return f"{self.request} · {self.theme}: {self.get_strength_display()}"


class ScoringPolicy(models.Model):
    """One version of the scoring weights and reference values. Never edited: a change is a new
    version (see ``strategy.services.policy_update``). The highest version is in force."""

    version = models.PositiveIntegerField(unique=True)
    weight_strategic = models.FloatField(default=0.45, validators=[MinValueValidator(0)])
    weight_breadth = models.FloatField(default=0.35, validators=[MinValueValidator(0)])
    weight_revenue = models.FloatField(default=0.20, validators=[MinValueValidator(0)])
    breadth_ref = models.FloatField(default=0.05, validators=[MinValueValidator(0.0001)])
    revenue_ref = models.FloatField(default=250_000, validators=[MinValueValidator(1)])
    effort_ref = models.FloatField(default=5, validators=[MinValueValidator(0.1)])
    importance_nice_to_have = models.FloatField(default=0.5, validators=[MinValueValidator(0)])
    importance_important = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    importance_critical = models.FloatField(default=1.5, validators=[MinValueValidator(0)])
    importance_blocker = models.FloatField(default=2.0, validators=[MinValueValidator(0)])
    urgency_near_days = models.PositiveIntegerField(default=30)
    urgency_far_days = models.PositiveIntegerField(default=365)
    urgency_floor = models.FloatField(
        default=0.25, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    single_deal_share = models.FloatField(
        default=0.70, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    single_deal_max_breadth = models.FloatField(default=20)
    single_deal_max_fit = models.FloatField(default=30)
    strategic_no_demand_min_fit = models.FloatField(default=60)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "scoring policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(weight_strategic__gt=0)
                | Q(weight_breadth__gt=0)
                | Q(weight_revenue__gt=0),
                name="policy_some_weight_positive",
            ),
            models.CheckConstraint(
                condition=Q(urgency_far_days__gt=models.F("urgency_near_days")),
                name="policy_urgency_far_after_near",
            ),
        ]

    def __str__(self) -> str:
        return f"Scoring policy v{self.version}"


class RequestScore(models.Model):
    """The score of one request, owned by the scoring service. ``stale`` is true from the moment an
    input changes until a recompute has written the new value."""

    request = models.OneToOneField(
        FeatureRequest, primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    total = models.FloatField(default=0)  # indexed descending below, for the board
    value = models.FloatField(default=0)
    strategic_fit = models.FloatField(default=0, db_index=True)
    customer_breadth = models.FloatField(default=0, db_index=True)
    revenue_at_stake = models.FloatField(default=0, db_index=True)
    effort_factor = models.FloatField(default=1)
    revenue_exposure = models.FloatField(
        default=0, help_text="X: probability-, importance- and urgency-weighted deal amounts."
    )
    open_pipeline = models.DecimalField(
        max_digits=16, decimal_places=2, default=0, help_text="Sum of open deal amounts linked."
    )
    accounts_count = models.PositiveIntegerField(default=0)
    customers_count = models.PositiveIntegerField(default=0)
    flags = models.JSONField(default=list, blank=True)
    flag_single_deal = models.BooleanField(default=False)
    flag_strategic_no_demand = models.BooleanField(default=False)
    flag_escalated = models.BooleanField(default=False)
    explanation = models.JSONField(default=dict, blank=True)
    policy_version = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    stale = models.BooleanField(default=True)
    stale_cause = models.CharField(
        max_length=300,
        blank=True,
        help_text="The latest change that made the score stale; recorded in the history.",
    )
    rice = models.FloatField(
        null=True, blank=True, help_text="RICE score, when its inputs are set."
    )
    wsjf = models.FloatField(
        null=True, blank=True, help_text="WSJF score, when its inputs are set."
    )

    class Meta:
        indexes = [
            models.Index(fields=["-total"], name="score_total_desc"),
            # Partial indexes: a recompute rewrites every row, and rows outside the condition cost
            # nothing to keep indexed. Stale scores are few and found by the sweep; single-deal
            # requests are few and counted by the sponsor view.
            models.Index(fields=["request"], condition=Q(stale=True), name="score_stale"),
            models.Index(
                fields=["request"], condition=Q(flag_single_deal=True), name="score_single_deal"
            ),
        ]
        # PostgreSQL also has ``score_lenses`` (request_id INCLUDE the lens values and total), for
        # the board's lens snapshot; created by migration 0006, which SQLite skips.

    def __str__(self) -> str:
        return f"{self.request_id}: {self.total:.0f}"


class ScoreHistory(models.Model):
    """A score as it was after a recompute that changed it, with the cause of the change."""

    request = models.ForeignKey(
        FeatureRequest, on_delete=models.CASCADE, related_name="score_history"
    )
    total = models.FloatField()
    strategic_fit = models.FloatField()
    customer_breadth = models.FloatField()
    revenue_at_stake = models.FloatField()
    cause = models.CharField(max_length=300, blank=True)
    policy_version = models.PositiveIntegerField(default=0)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "recorded_at"]
        indexes = [models.Index(fields=["request", "recorded_at"], name="history_request_time")]
        verbose_name_plural = "score history"

    def __str__(self) -> str:
        return f"{self.request_id} {self.total:.0f} @ {self.recorded_at:%Y-%m-%d}"
