"""Forms for the board, the product request page and the strategy page."""

from __future__ import annotations

from django import forms

from requests_app.models import (
    DecisionKind,
    FeatureRequest,
    ProductArea,
    RequestStatus,
    Segment,
)

from .models import StrategicTheme, Strength
from .selectors import BOARD_FLAGS, BOARD_SORTS, BoardFilters


class BoardFilterForm(forms.Form):
    """The board's filters, read from the query string. Bad values fall back to "any"."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        required=False,
        choices=[("open", "Open"), ("all", "All statuses"), *RequestStatus.choices],
    )
    theme = forms.ModelChoiceField(
        queryset=StrategicTheme.objects.filter(active=True), required=False, empty_label="Any"
    )
    product_area = forms.ChoiceField(
        label="Area", required=False, choices=[("", "Any"), *ProductArea.choices]
    )
    segment = forms.ChoiceField(required=False, choices=[("", "Any"), *Segment.choices])
    flag = forms.ChoiceField(required=False, choices=[("", "Any"), *BOARD_FLAGS.items()])
    open_deals = forms.BooleanField(label="Has open deals", required=False)
    closing_this_quarter = forms.BooleanField(label="Deals closing this quarter", required=False)
    sort = forms.ChoiceField(label="Rank by", required=False, choices=list(BOARD_SORTS.items()))

    def filters(self) -> BoardFilters:
        if not self.is_valid():
            # Keep the valid parts; drop whatever did not parse.
            data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        else:
            data = self.cleaned_data
        theme = data.get("theme")
        return BoardFilters(
            status=data.get("status") or "open",
            theme=theme.pk if theme else None,
            product_area=data.get("product_area") or "",
            segment=data.get("segment") or "",
            flag=data.get("flag") or "",
            open_deals=bool(data.get("open_deals")),
            closing_this_quarter=bool(data.get("closing_this_quarter")),
            q=(data.get("q") or "").strip(),
            sort=data.get("sort") or "total",
        )


BULK_STATUSES = [
    (s, label)
    for s, label in RequestStatus.choices
    if s not in (RequestStatus.ACCEPTED, RequestStatus.DEFERRED, RequestStatus.MERGED)
]


class BulkStatusForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)
    status = forms.ChoiceField(
        label="Move to",
        choices=[("", "Pick a status"), *BULK_STATUSES],
        error_messages={"required": "Pick the new status."},
    )
    rationale = forms.CharField(
        label="Rationale (the requesters see it)",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Explain the change: the requesters will read it."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any request number is acceptable here; the view loads the ones that exist.
        ids = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        # (numbers beyond a 64-bit id cannot exist and would overflow the database driver)
        self.fields["ids"].choices = [(v, v) for v in ids if str(v).isdigit() and int(v) < 2**63]
        self.fields["ids"].error_messages = {
            "required": "Tick the requests to change first.",
            "invalid_choice": "Tick the requests to change first.",
        }


class DecisionForm(forms.Form):
    """Decide with a rationale; what else is needed depends on the kind."""

    kind = forms.ChoiceField(
        label="Decision",
        choices=DecisionKind.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Pick a decision."},
    )
    rationale = forms.CharField(
        label="Rationale (the requesters see it)",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Explain the decision: the requesters will read it."},
    )
    target_quarter = forms.CharField(
        label="Target quarter",
        required=False,
        max_length=7,
        help_text="For accept, like 2027-Q1.",
        widget=forms.TextInput(attrs={"placeholder": "2027-Q1"}),
    )
    revisit_on = forms.DateField(
        label="Revisit on",
        required=False,
        help_text="For defer: when to look at this again.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    how = forms.CharField(
        label="How to do it today",
        required=False,
        max_length=2000,
        help_text="For already possible: the steps the customer can follow now.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def clean(self):
        # Every missing piece at once; decision_record checks the same rules again.
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == DecisionKind.ALREADY_POSSIBLE and not cleaned.get("how"):
            self.add_error("how", "Explain how the customer can do this today.")
        if kind == DecisionKind.ACCEPT and not cleaned.get("target_quarter"):
            self.add_error("target_quarter", "Give the target quarter, like 2027-Q1.")
        if (
            kind == DecisionKind.DEFER
            and not cleaned.get("revisit_on")
            and not self.has_error("revisit_on")
        ):
            self.add_error("revisit_on", "Give the date to look at this again.")
        return cleaned

    def full_rationale(self) -> str:
        rationale = self.cleaned_data["rationale"].strip()
        how = (self.cleaned_data.get("how") or "").strip()
        if self.cleaned_data["kind"] == DecisionKind.ALREADY_POSSIBLE and how:
            rationale = f"{rationale}\n\nHow to do it today: {how}"
        return rationale


class AlignmentForm(forms.Form):
    """One 0-3 selector per theme; field names are ``theme_<id>``."""

    def __init__(self, *args, alignments, **kwargs):
        super().__init__(*args, **kwargs)
        self.themes = {}
        for theme, strength in alignments:
            name = f"theme_{theme.pk}"
            self.themes[name] = theme
            self.fields[name] = forms.TypedChoiceField(
                label=theme.name,
                choices=Strength.choices,
                coerce=int,
                initial=strength,
                help_text=f"Weight {theme.weight}" + ("" if theme.active else " · inactive"),
            )

    def changes(self):
        for name, theme in self.themes.items():
            yield theme, self.cleaned_data[name]


class EffortInputsForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = FeatureRequest
        fields = [
            "effort",
            "rice_reach",
            "rice_impact",
            "rice_confidence",
            "rice_effort_months",
            "wsjf_business_value",
            "wsjf_time_criticality",
            "wsjf_risk_reduction",
            "wsjf_job_size",
        ]
        labels = {
            "effort": "Effort (points)",
            "rice_reach": "RICE reach (blank: accounts asking)",
        }


class MergeForm(forms.Form):
    target = forms.IntegerField(
        label="Merge into request #",
        min_value=1,
        error_messages={"required": "Give the number of the request this duplicates."},
    )


class ThemeForm(forms.ModelForm):
    class Meta:
        model = StrategicTheme
        fields = ["name", "description", "weight", "horizon", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        error_messages = {"name": {"required": "Name the theme."}}


POLICY_WHATIF_FIELDS = [
    "weight_strategic",
    "weight_breadth",
    "weight_revenue",
    "revenue_ref",
    "effort_ref",
]


class PolicyForm(forms.Form):
    """The scoring weights the strategy page edits, theme weights (``theme_<id>``) and a reason."""

    weight_strategic = forms.FloatField(label="Weight: strategic fit", min_value=0, max_value=100)
    weight_breadth = forms.FloatField(label="Weight: customer breadth", min_value=0, max_value=100)
    weight_revenue = forms.FloatField(label="Weight: revenue at stake", min_value=0, max_value=100)
    revenue_ref = forms.FloatField(
        label="Revenue reference ($)",
        min_value=1,
        help_text="Weighted deal value that scores 63 on revenue at stake.",
    )
    effort_ref = forms.FloatField(
        label="Effort reference (points)",
        min_value=0.1,
        help_text="Effort that neither helps nor hurts the total.",
    )
    reason = forms.CharField(
        label="Reason for the change (audited)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, themes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.themes = {}
        for theme in themes:
            name = f"theme_{theme.pk}"
            self.themes[name] = theme
            self.fields[name] = forms.IntegerField(
                label=theme.name, min_value=0, max_value=100, initial=theme.weight
            )

    def clean(self):
        cleaned = super().clean()
        weights = [cleaned.get(f) for f in POLICY_WHATIF_FIELDS[:3]]
        if all(w is not None for w in weights) and not any(w > 0 for w in weights):
            raise forms.ValidationError("At least one component needs a weight above 0.")
        return cleaned

    def policy_changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in POLICY_WHATIF_FIELDS}

    def theme_weights(self) -> dict[int, int]:
        return {theme.pk: self.cleaned_data[name] for name, theme in self.themes.items()}
