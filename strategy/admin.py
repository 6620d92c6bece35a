from django.contrib import admin

from .models import RequestScore, ScoreHistory, ScoringPolicy, StrategicTheme, ThemeAlignment


@admin.register(StrategicTheme)
class StrategicThemeAdmin(admin.ModelAdmin):
    list_display = ["name", "weight", "horizon", "active"]
    list_filter = ["horizon", "active"]
    search_fields = ["name", "description"]


@admin.register(ThemeAlignment)
class ThemeAlignmentAdmin(admin.ModelAdmin):
    list_display = ["request", "theme", "strength", "set_by", "updated_at"]
    list_filter = ["theme", "strength"]
    search_fields = ["request__title"]
    raw_id_fields = ["request"]
    list_select_related = ["request", "theme", "set_by"]


@admin.register(ScoringPolicy)
class ScoringPolicyAdmin(admin.ModelAdmin):
    """Versions are created by the strategy page; here they are read-only history."""

    list_display = [
        "version",
        "weight_strategic",
        "weight_breadth",
        "weight_revenue",
        "created_by",
        "created_at",
        "reason",
    ]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RequestScore)
class RequestScoreAdmin(admin.ModelAdmin):
    list_display = [
        "request",
        "total",
        "strategic_fit",
        "customer_breadth",
        "revenue_at_stake",
        "flag_single_deal",
        "stale",
        "computed_at",
        "policy_version",
    ]
    list_filter = ["stale", "flag_single_deal", "policy_version"]
    search_fields = ["request__title"]
    raw_id_fields = ["request"]
    list_select_related = ["request"]


@admin.register(ScoreHistory)
class ScoreHistoryAdmin(admin.ModelAdmin):
    list_display = ["request", "total", "cause", "recorded_at"]
    search_fields = ["request__title", "cause"]
    raw_id_fields = ["request"]
    list_select_related = ["request"]
