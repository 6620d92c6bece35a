"""Forms of the sales journey: the problem, the evidence, edits and escalations.

Forms validate and say what is wrong next to the field; services do the writing.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone

from .models import (
    CLOSED_STAGES,
    Account,
    Deal,
    DealStage,
    FeatureRequest,
    Importance,
    Segment,
)

OPEN_STAGE_CHOICES = [
    (value, label) for value, label in DealStage.choices if value not in CLOSED_STAGES
]


class RequestForm(forms.ModelForm):
    """The customer's problem, in the rep's words. Used to file a request and to edit it."""

    class Meta:
        model = FeatureRequest
        fields = ["problem", "title", "who_affected", "desired_outcome", "product_area"]
        labels = {
            "problem": "What is the customer trying to do, and what happens today?",
            "title": "Short title",
            "who_affected": "Who is affected?",
            "desired_outcome": "Desired outcome",
            "product_area": "Product area",
        }
        help_texts = {
            "problem": "Describe the problem, not only the feature they asked for.",
            "title": "A few words product will recognise, e.g. “Bulk export to CSV”.",
            "who_affected": "Roles or teams, e.g. “finance admins, 40 users”.",
            "desired_outcome": "What would be different for them once this is solved?",
        }
        widgets = {
            "problem": forms.Textarea(
                attrs={
                    "rows": 4,
                    "placeholder": "Finance exports every invoice by hand at month end; "
                    "with 3,000 invoices it takes two days…",
                }
            ),
            "desired_outcome": forms.Textarea(attrs={"rows": 2}),
        }
        error_messages = {
            "title": {"required": "Give the request a short title."},
            "problem": {"required": "Describe the customer's problem in a sentence or two."},
            "product_area": {"required": "Pick the product area."},
        }

    def suggestion_text(self) -> str:
        """What duplicate suggestions search with: the title and the problem as typed."""
        data = self.data if self.is_bound else self.initial
        return f"{data.get('title', '')}\n{data.get('problem', '')}".strip()


class EvidenceForm(forms.Form):
    """Who needs it and what is at stake: an account (or a new prospect), a deal (an open deal of
    the account, a new one, or none), the importance and a customer quote."""

    account = forms.ModelChoiceField(
        queryset=Account.objects.all(),
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "That account does not exist any more."},
    )
    account_query = forms.CharField(label="Account", required=False, max_length=200)
    prospect_name = forms.CharField(label="New prospect's name", required=False, max_length=200)
    prospect_segment = forms.ChoiceField(
        label="Segment", choices=Segment.choices, initial=Segment.SMB, required=False
    )
    deal = forms.ModelChoiceField(
        queryset=Deal.objects.open().select_related("account"),
        required=False,
        error_messages={"invalid_choice": "That deal is closed or no longer exists."},
    )
    new_deal_name = forms.CharField(label="Deal name", required=False, max_length=200)
    new_deal_amount = forms.DecimalField(
        label="Amount ($)",
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=2,
        error_messages={
            "invalid": "Enter the amount as a number, e.g. 120000.",
            "min_value": "The amount cannot be negative.",
            "max_digits": "That amount is too large.",
        },
    )
    new_deal_stage = forms.ChoiceField(
        label="Stage", choices=[("", "—")] + OPEN_STAGE_CHOICES, required=False
    )
    new_deal_close_date = forms.DateField(
        label="Expected close date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date, e.g. 2026-12-15."},
    )
    importance = forms.ChoiceField(
        label="How important is it to them?",
        choices=Importance.choices,
        initial=Importance.IMPORTANT,
        widget=forms.RadioSelect,
        error_messages={"required": "Say how important this is to the customer."},
    )
    note = forms.CharField(
        label="Customer quote",
        required=False,
        max_length=4000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "“Without this we cannot roll out to finance.”"}
        ),
        help_text="Their words, if you have them. Product reads these.",
    )

    NEW_DEAL_FIELDS = ("new_deal_name", "new_deal_amount", "new_deal_stage", "new_deal_close_date")

    def clean(self):
        cleaned = super().clean()
        account = cleaned.get("account")
        query = (cleaned.get("account_query") or "").strip()
        prospect = (cleaned.get("prospect_name") or "").strip()
        if "account" in self.errors:
            return cleaned
        if account is None and not prospect and query:
            # Without JavaScript the rep types a name and submits: take an exact match.
            matches = list(Account.objects.filter(name__iexact=query)[:2])
            if len(matches) == 1:
                account = cleaned["account"] = matches[0]
            else:
                self.add_error(
                    "account",
                    f"No single account is called “{query}”: pick one below, "
                    "or add it as a new prospect.",
                )
                return cleaned
        if account is not None and prospect:
            self.add_error(
                "prospect_name",
                f"You picked {account} above; clear this name, or unpick the account.",
            )
        elif account is None and not prospect:
            self.add_error("account", "Pick the account that needs this.")
        elif prospect and Account.objects.filter(name__iexact=prospect).exists():
            self.add_error(
                "prospect_name", f"An account called “{prospect}” already exists: pick it above."
            )
        self._clean_deal(cleaned, account)
        return cleaned

    def _clean_deal(self, cleaned: dict, account: Account | None) -> None:
        deal = cleaned.get("deal")
        started = [name for name in self.NEW_DEAL_FIELDS if self.data.get(name, "").strip()]
        if deal is not None and started:
            self.add_error(
                "new_deal_name", "You picked an existing deal; clear the new deal or unpick it."
            )
            return
        if deal is not None:
            if account is None:
                self.add_error("deal", "A new prospect has no deals yet: record a new deal below.")
            elif deal.account_id != account.pk:
                self.add_error("deal", f"That deal belongs to {deal.account}, not {account}.")
            return
        if not started:
            return
        messages = {
            "new_deal_name": "Name the deal, e.g. “Acme renewal 2027”.",
            "new_deal_amount": "Enter the deal amount.",
            "new_deal_stage": "Pick the deal's stage.",
            "new_deal_close_date": "When is it expected to close?",
        }
        for name, message in messages.items():
            if name not in self.errors and cleaned.get(name) in (None, ""):
                self.add_error(name, message)
        close = cleaned.get("new_deal_close_date")
        if close and close < timezone.localdate():
            self.add_error("new_deal_close_date", "An open deal cannot close in the past.")

    def new_deal(self) -> dict | None:
        """The new deal's fields for :func:`services.deal_create`, or None."""
        data = self.cleaned_data
        if data.get("deal") is not None or not data.get("new_deal_name"):
            return None
        return {
            "name": data["new_deal_name"].strip(),
            "amount": data["new_deal_amount"],
            "stage": data["new_deal_stage"],
            "close_date": data["new_deal_close_date"],
        }

    def selected_account_id(self) -> int | None:
        """The account currently picked (valid or not), to re-render its deals."""
        raw = self.data.get("account") if self.is_bound else None
        try:
            return int(raw) if raw else None
        except (TypeError, ValueError):
            return None


class EscalationForm(forms.Form):
    """Contest a decision: the deals at stake, the business case, the outcome asked for."""

    deals = forms.ModelMultipleChoiceField(
        label="Deals at stake",
        queryset=Deal.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    business_case = forms.CharField(
        label="Business case",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What happens to the customer and the deal if the decision stands?",
        error_messages={"required": "Explain what is at stake for the customer and the deal."},
    )
    outcome_requested = forms.CharField(
        label="What are you asking for?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example “build it by 2027-Q1” or “a workaround for Acme until then”.",
        error_messages={"required": "Say what you are asking for."},
    )

    def __init__(self, *args, deals=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["deals"]
        field.queryset = deals if deals is not None else Deal.objects.none()
        field.label_from_instance = lambda d: (
            f"{d.name} · {d.account} · ${d.amount:,.0f} · {d.get_stage_display()}"
        )
        if deals is not None and deals.exists():
            field.required = True
            field.error_messages["required"] = "Tick the deals that depend on this decision."
