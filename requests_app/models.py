"""Accounts, deals, feature requests and the evidence, decisions and escalations around them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse


class Segment(models.TextChoices):
    SMB = "smb", "SMB"
    MID_MARKET = "mid_market", "Mid-market"
    ENTERPRISE = "enterprise", "Enterprise"


class Account(models.Model):
    """A customer or prospect. ARR is recorded for customers only."""

    name = models.CharField(max_length=200, db_index=True)
    segment = models.CharField(max_length=20, choices=Segment.choices, default=Segment.SMB)
    is_customer = models.BooleanField(default=False)
    arr = models.DecimalField(
        "ARR", max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    sector = models.CharField(max_length=100, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    external_id = models.CharField(
        "CRM external id", max_length=100, unique=True, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(arr__gte=0), name="account_arr_non_negative"),
        ]
        indexes = [models.Index(fields=["is_customer", "segment"], name="account_customer_seg")]

    def __str__(self) -> str:
        return self.name


class DealStage(models.TextChoices):
    PROSPECTING = "prospecting", "Prospecting"
    QUALIFICATION = "qualification", "Qualification"
    PROPOSAL = "proposal", "Proposal"
    NEGOTIATION = "negotiation", "Negotiation"
    CLOSED_WON = "closed_won", "Closed won"
    CLOSED_LOST = "closed_lost", "Closed lost"


STAGE_PROBABILITY: dict[str, int] = {
    DealStage.PROSPECTING: 10,
    DealStage.QUALIFICATION: 20,
    DealStage.PROPOSAL: 50,
    DealStage.NEGOTIATION: 75,
    DealStage.CLOSED_WON: 100,
    DealStage.CLOSED_LOST: 0,
}
CLOSED_STAGES = (DealStage.CLOSED_WON, DealStage.CLOSED_LOST)


class DealQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(stage__in=CLOSED_STAGES)


class Deal(models.Model):
    """An opportunity on an account. Open means not closed (won or lost)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="deals")
    name = models.CharField(max_length=200)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    stage = models.CharField(
        max_length=20, choices=DealStage.choices, default=DealStage.PROSPECTING
    )
    probability = models.PositiveSmallIntegerField(
        help_text="0-100; defaults by stage.",
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    close_date = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    external_id = models.CharField(
        "CRM external id", max_length=100, unique=True, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["close_date", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(probability__gte=0, probability__lte=100),
                name="deal_probability_0_100",
            ),
        ]
        indexes = [
            models.Index(fields=["stage", "close_date"], name="deal_stage_close"),
            models.Index(fields=["owner", "stage"], name="deal_owner_stage"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account})"

    @property
    def is_open(self) -> bool:
        return self.stage not in CLOSED_STAGES


class ProductArea(models.TextChoices):
    REPORTING = "reporting", "Reporting & analytics"
    INTEGRATIONS = "integrations", "Integrations & API"
    SECURITY = "security", "Security & admin"
    BILLING = "billing", "Billing & invoicing"
    WORKFLOW = "workflow", "Workflow & automation"
    COLLABORATION = "collaboration", "Collaboration"
    MOBILE = "mobile", "Mobile"
    PLATFORM = "platform", "Platform & performance"


class RequestStatus(models.TextChoices):
    NEW = "new", "New"
    UNDER_REVIEW = "under_review", "Under review"
    NEEDS_INFO = "needs_info", "Needs info"
    ACCEPTED = "accepted", "Accepted"
    IN_PROGRESS = "in_progress", "In progress"
    SHIPPED = "shipped", "Shipped"
    DECLINED = "declined", "Declined"
    DEFERRED = "deferred", "Deferred"
    ALREADY_POSSIBLE = "already_possible", "Already possible"
    MERGED = "merged", "Merged"


OPEN_STATUSES = (
    RequestStatus.NEW,
    RequestStatus.UNDER_REVIEW,
    RequestStatus.NEEDS_INFO,
    RequestStatus.ACCEPTED,
    RequestStatus.IN_PROGRESS,
    RequestStatus.DEFERRED,
)


class RiceImpact(models.TextChoices):
    MASSIVE = "3", "3 · massive"
    HIGH = "2", "2 · high"
    MEDIUM = "1", "1 · medium"
    LOW = "0.5", "0.5 · low"
    MINIMAL = "0.25", "0.25 · minimal"


class RiceConfidence(models.IntegerChoices):
    HIGH = 100, "100% · high"
    MEDIUM = 80, "80% · medium"
    LOW = 50, "50% · low"


WSJF_SCALE = (1, 2, 3, 5, 8, 13, 20)
WSJF_CHOICES = [(v, str(v)) for v in WSJF_SCALE]


class FeatureRequest(models.Model):
    """One customer need, described as the problem first."""

    title = models.CharField(max_length=200)
    problem = models.TextField(
        help_text="What the customer is trying to do and what happens today."
    )
    desired_outcome = models.TextField(blank=True)
    who_affected = models.CharField("who is affected", max_length=200, blank=True)
    product_area = models.CharField(max_length=30, choices=ProductArea.choices, db_index=True)
    status = models.CharField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.NEW, db_index=True
    )
    effort = models.PositiveSmallIntegerField(
        "effort (points)", null=True, blank=True, validators=[MinValueValidator(1)]
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_requests"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="submitted_requests",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Incremented by every product-side change; guards against two managers overwriting each other.
    version = models.PositiveIntegerField(default=1)

    # RICE inputs (product-entered). Reach defaults to the number of accounts asking.
    rice_reach = models.PositiveIntegerField("RICE reach override", null=True, blank=True)
    rice_impact = models.CharField(
        "RICE impact", max_length=4, choices=RiceImpact.choices, blank=True
    )
    rice_confidence = models.PositiveSmallIntegerField(
        "RICE confidence", choices=RiceConfidence.choices, null=True, blank=True
    )
    rice_effort_months = models.DecimalField(
        "RICE effort (person-months)",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01)],
    )
    # WSJF inputs on the modified Fibonacci scale.
    wsjf_business_value = models.PositiveSmallIntegerField(
        "WSJF business value", choices=WSJF_CHOICES, null=True, blank=True
    )
    wsjf_time_criticality = models.PositiveSmallIntegerField(
        "WSJF time criticality", choices=WSJF_CHOICES, null=True, blank=True
    )
    wsjf_risk_reduction = models.PositiveSmallIntegerField(
        "WSJF risk reduction / opportunity enablement", choices=WSJF_CHOICES, null=True, blank=True
    )
    wsjf_job_size = models.PositiveSmallIntegerField(
        "WSJF job size", choices=WSJF_CHOICES, null=True, blank=True
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(merged_into=F("pk")), name="request_not_merged_into_itself"
            ),
            models.CheckConstraint(
                condition=Q(effort__isnull=True) | Q(effort__gte=1), name="request_effort_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "product_area"], name="request_status_area"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("requests_app:request_detail", args=[self.pk])


class Importance(models.TextChoices):
    NICE_TO_HAVE = "nice_to_have", "Nice to have"
    IMPORTANT = "important", "Important"
    CRITICAL = "critical", "Critical"
    BLOCKER = "blocker", "Deal blocker"


class Ask(models.Model):
    """Evidence: an account (and optionally one of its deals) needs this request."""

    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="asks")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="asks")
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.SET_NULL, related_name="asks"
    )
    importance = models.CharField(
        max_length=20, choices=Importance.choices, default=Importance.IMPORTANT
    )
    note = models.TextField("note or customer quote", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="asks"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["request", "account"], name="ask_request_account"),
            models.Index(fields=["deal", "request"], name="ask_deal_request"),
        ]

    def __str__(self) -> str:
        return f"{self.account} → {self.request}"


class DecisionKind(models.TextChoices):
    ACCEPT = "accept", "Accept"
    DECLINE = "decline", "Decline"
    DEFER = "defer", "Defer"
    ALREADY_POSSIBLE = "already_possible", "Already possible"
    NEEDS_INFO = "needs_info", "Needs info"


DECISION_STATUS = {
    DecisionKind.ACCEPT: RequestStatus.ACCEPTED,
    DecisionKind.DECLINE: RequestStatus.DECLINED,
    DecisionKind.DEFER: RequestStatus.DEFERRED,
    DecisionKind.ALREADY_POSSIBLE: RequestStatus.ALREADY_POSSIBLE,
    DecisionKind.NEEDS_INFO: RequestStatus.NEEDS_INFO,
}


class Decision(models.Model):
    """A product decision on a request, with the rationale its requesters see."""

    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=20, choices=DecisionKind.choices)
    rationale = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    decided_at = models.DateTimeField(auto_now_add=True, db_index=True)
    target_quarter = models.CharField(max_length=7, blank=True, help_text="For example 2027-Q1.")
    revisit_on = models.DateField(null=True, blank=True)
    escalation = models.ForeignKey(
        "Escalation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decisions",
        help_text="Set when the decision is an executive's resolution of an escalation.",
    )

    class Meta:
        ordering = ["-decided_at", "-pk"]
        get_latest_by = "decided_at"
        constraints = [
            models.CheckConstraint(condition=~Q(rationale=""), name="decision_rationale_required"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.request}"


class EscalationStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class EscalationOutcome(models.TextChoices):
    UPHOLD = "uphold", "Uphold"
    OVERTURN = "overturn", "Overturn"
    COMPROMISE = "compromise", "Compromise"


class Escalation(models.Model):
    """Sales contests a product decision; an executive resolves it."""

    request = models.ForeignKey(
        FeatureRequest, on_delete=models.CASCADE, related_name="escalations"
    )
    contested_decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="escalations_raised",
    )
    deals = models.ManyToManyField(Deal, blank=True, related_name="escalations")
    business_case = models.TextField()
    outcome_requested = models.TextField()
    status = models.CharField(
        max_length=10, choices=EscalationStatus.choices, default=EscalationStatus.OPEN
    )
    due_at = models.DateTimeField(help_text="SLA due date.")
    created_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=12, choices=EscalationOutcome.choices, blank=True)
    resolution_rationale = models.TextField(blank=True)
    compromise_terms = models.TextField(blank=True)
    target_quarter = models.CharField(max_length=7, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalations_resolved",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status="open"),
                name="one_open_escalation_per_request",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | (~Q(outcome="") & ~Q(resolution_rationale="")),
                name="resolved_escalation_has_outcome",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="escalation_status_due")]

    def __str__(self) -> str:
        return f"Escalation on {self.request}"


class AuditEvent(models.Model):
    """Append-only record of who changed what: rows are never updated or deleted."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60, db_index=True)
    object_id = models.CharField(max_length=40, db_index=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.actor or 'system'} {self.verb} {self.object_type}#{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class Notification(models.Model):
    """An in-app message to one user about a request they follow."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    request = models.ForeignKey(
        FeatureRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    verb = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.message


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """One CRM file upload and what importing it did. The file's text is kept in the row so any
    worker can read it, whatever machine the upload landed on."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=255)
    content = models.TextField()
    dry_run = models.BooleanField(default=False)
    all_or_nothing = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    layout = models.CharField(max_length=40, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Import {self.filename} ({self.get_status_display()})"

    @property
    def layout_label(self) -> str:
        from .importers import LAYOUT_LABELS

        return LAYOUT_LABELS.get(self.layout, self.layout)

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(100 * self.processed_rows / self.total_rows))


class WebhookEvent(models.TextChoices):
    REQUEST_CREATED = "request.created", "Request created"
    REQUEST_STATUS_CHANGED = "request.status_changed", "Request status changed"
    DECISION_RECORDED = "decision.recorded", "Decision recorded"
    ESCALATION_OPENED = "escalation.opened", "Escalation opened"
    ESCALATION_RESOLVED = "escalation.resolved", "Escalation resolved"


class WebhookSubscription(models.Model):
    """An outside system that wants to hear about events, at a URL, signed with a shared secret."""

    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    events = models.JSONField(default=list, help_text="Event names, for example request.created.")
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Gave up"


class WebhookDelivery(models.Model):
    """One event for one subscription; delivered by a task, retried with backoff."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    event_id = models.UUIDField(unique=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "created_at"], name="delivery_status_time")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription}"


class WebhookAttempt(models.Model):
    """One HTTP try of a delivery: what came back, or why nothing did."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_body = models.CharField(max_length=1000, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")
        ]

    def __str__(self) -> str:
        return f"#{self.number}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
