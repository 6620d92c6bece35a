from __future__ import annotations

from django import forms

from .models import Account, Deal, FeatureRequest, Importance


class RequestForm(forms.ModelForm):
    """The problem first, then the evidence: account, deal at stake, importance and a quote."""

    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name"),
        help_text="The customer or prospect who needs this.",
        error_messages={
            "required": "Pick the account that needs this.",
            "invalid_choice": "That account does not exist any more.",
        },
    )
    deal = forms.ModelChoiceField(
        queryset=Deal.objects.open().select_related("account").order_by("account__name", "name"),
        required=False,
        help_text="Optional: the open deal that depends on it.",
    )
    importance = forms.ChoiceField(
        choices=Importance.choices, initial=Importance.IMPORTANT, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="Customer quote",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=4000,
    )

    class Meta:
        model = FeatureRequest
        fields = ["title", "problem", "desired_outcome", "who_affected", "product_area"]
        labels = {
            "title": "Short title",
            "problem": "What is the customer trying to do, and what happens today?",
        }
        widgets = {
            "problem": forms.Textarea(attrs={"rows": 4}),
            "desired_outcome": forms.Textarea(attrs={"rows": 2}),
        }
        error_messages = {
            "title": {"required": "Give the request a short title."},
            "problem": {"required": "Describe the customer's problem in a sentence or two."},
            "product_area": {"required": "Pick the product area."},
        }

    def clean(self):
        cleaned = super().clean()
        account, deal = cleaned.get("account"), cleaned.get("deal")
        if account and deal and deal.account_id != account.pk:
            self.add_error("deal", f"That deal belongs to {deal.account}, not {account}.")
        return cleaned
