"""Forms of the executive pages: resolving an escalation, filtering the audit log."""

from __future__ import annotations

from django import forms

from requests_app.models import EscalationOutcome, RequestStatus
from requests_app.services import COMPROMISE_STATUSES

from .executive_selectors import AuditFilters, quarters_ahead


class ResolveForm(forms.Form):
    """Uphold, overturn (with a target quarter) or compromise (a status and terms), with a
    rationale. Field-level rules live in ``escalation_resolve``; its errors land on these fields."""

    outcome = forms.ChoiceField(
        choices=EscalationOutcome.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose uphold, overturn or compromise."},
    )
    target_quarter = forms.ChoiceField(
        label="Target quarter",
        required=False,
        help_text="Required to overturn: the quarter it ships in.",
        error_messages={"invalid_choice": "Pick one of the listed quarters."},
    )
    compromise_status = forms.ChoiceField(
        label="Request moves to",
        required=False,
        help_text="For a compromise: the status the request takes.",
        error_messages={"invalid_choice": "Pick one of the listed statuses."},
    )
    compromise_terms = forms.CharField(
        label="Compromise terms",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For a compromise, in words: what is built, for whom, by when.",
    )
    rationale = forms.CharField(
        label="Rationale",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The requesters and product read this.",
        error_messages={"required": "Say why: the requesters and product will read it."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target_quarter"].choices = [("", "Pick a quarter")] + [
            (q, q) for q in quarters_ahead(6)
        ]
        self.fields["compromise_status"].choices = [("", "Pick a status")] + [
            (status, RequestStatus(status).label) for status in COMPROMISE_STATUSES
        ]


class AuditFilterForm(forms.Form):
    """Filters of the audit log; invalid values are shown as errors and ignored."""

    actor = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    object_type = forms.ChoiceField(label="Object type", required=False)
    object_id = forms.CharField(label="Object id", required=False, max_length=40)
    verb = forms.ChoiceField(label="Action", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, options: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "Anyone")] + [
            (u.pk, u.get_full_name() or u.get_username()) for u in options["actors"]
        ]
        self.fields["object_type"].choices = [("", "Any type")] + [
            (t, t) for t in options["object_types"]
        ]
        self.fields["verb"].choices = [("", "Any action")] + [(v, v) for v in options["verbs"]]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def filters(self) -> AuditFilters:
        """The valid filters; a field with an error is left out."""
        data = self.cleaned_data if self.is_bound else {}
        return AuditFilters(
            actor=data.get("actor"),
            object_type=data.get("object_type") or "",
            object_id=(data.get("object_id") or "").strip(),
            verb=data.get("verb") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
