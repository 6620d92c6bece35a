from django.contrib import admin

from .models import (
    Account,
    Ask,
    AuditEvent,
    Deal,
    Decision,
    Escalation,
    FeatureRequest,
    ImportJob,
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)


class AskInline(admin.TabularInline):
    model = Ask
    extra = 0
    autocomplete_fields = ["account", "deal"]
    readonly_fields = ["created_by", "created_at"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "segment", "is_customer", "arr", "sector", "external_id"]
    list_filter = ["segment", "is_customer", "sector"]
    search_fields = ["name", "external_id"]


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "amount", "stage", "probability", "close_date", "owner"]
    list_filter = ["stage", "owner"]
    search_fields = ["name", "account__name", "external_id"]
    autocomplete_fields = ["account"]
    list_select_related = ["account", "owner"]
    date_hierarchy = "close_date"


@admin.register(FeatureRequest)
class FeatureRequestAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "product_area", "effort", "created_by", "created_at"]
    list_filter = ["status", "product_area"]
    search_fields = ["title", "problem"]
    raw_id_fields = ["merged_into"]
    list_select_related = ["created_by"]
    inlines = [AskInline]


@admin.register(Ask)
class AskAdmin(admin.ModelAdmin):
    list_display = ["request", "account", "deal", "importance", "created_by", "created_at"]
    list_filter = ["importance"]
    search_fields = ["request__title", "account__name", "note"]
    autocomplete_fields = ["account", "deal"]
    raw_id_fields = ["request"]
    list_select_related = ["request", "account", "deal", "created_by"]


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["request", "kind", "decided_by", "decided_at", "target_quarter"]
    list_filter = ["kind"]
    search_fields = ["request__title", "rationale"]
    raw_id_fields = ["request", "escalation"]
    list_select_related = ["request", "decided_by"]


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["request", "status", "outcome", "raised_by", "due_at", "resolved_by"]
    list_filter = ["status", "outcome"]
    search_fields = ["request__title", "business_case"]
    raw_id_fields = ["request", "contested_decision"]
    filter_horizontal = ["deals"]
    list_select_related = ["request", "raised_by", "resolved_by"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only."""

    list_display = ["created_at", "actor", "verb", "object_type", "object_id", "object_repr"]
    list_filter = ["verb", "object_type"]
    search_fields = ["object_repr", "object_id", "actor__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "verb", "message", "created_at", "read_at"]
    list_filter = ["verb"]
    search_fields = ["recipient__username", "message"]
    raw_id_fields = ["request"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """CRM imports and what they did; started from the CRM import page or the command."""

    list_display = ["filename", "status", "layout", "total_rows", "created_by", "created_at"]
    list_filter = ["status", "layout", "dry_run"]
    exclude = ["content"]
    readonly_fields = [
        "created_by",
        "filename",
        "dry_run",
        "all_or_nothing",
        "status",
        "layout",
        "total_rows",
        "processed_rows",
        "result",
        "errors",
        "failure",
        "created_at",
        "started_at",
        "finished_at",
    ]
    list_select_related = ["created_by"]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["url", "events", "active", "description", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = ["created_by", "created_at"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "url":
            # An address typed without a scheme is taken as https, never plain http.
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "created_at", "status_code", "error", "duration_ms", "response_body"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Every outbound delivery with each HTTP attempt, for diagnosing a receiver."""

    list_display = ["event", "subscription", "status", "attempts", "created_at", "delivered_at"]
    list_filter = ["status", "event"]
    search_fields = ["event_id", "subscription__url"]
    readonly_fields = [
        "subscription",
        "event",
        "event_id",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ]
    list_select_related = ["subscription"]
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request):
        return False
