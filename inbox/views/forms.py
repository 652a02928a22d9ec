from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from inbox.models import Priority, SLAEscalation


class EmailAuthenticationForm(AuthenticationForm):
    """The login form, labelled for people: "Email" and "Password"."""

    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()


class SLAPolicyForm(forms.Form):
    """One SLA policy on the settings page. The default policy has no conditions."""

    name = forms.CharField(max_length=100)
    first_response_minutes = forms.IntegerField(
        min_value=1, label="First response (minutes)", help_text="From the customer's first message"
    )
    next_response_minutes = forms.IntegerField(
        min_value=1,
        label="Next response (minutes)",
        help_text="From each customer message after an agent reply",
    )
    resolution_minutes = forms.IntegerField(min_value=1, label="Resolution (minutes)")
    warning_percent = forms.IntegerField(
        min_value=1, max_value=100, initial=75, label="Warn at (% of a target)"
    )
    use_business_hours = forms.BooleanField(
        required=False, label="Count business hours only (else calendar time)"
    )
    escalation = forms.ChoiceField(choices=SLAEscalation.choices, label="On a breach")
    position = forms.IntegerField(
        min_value=0, initial=10, label="Order", help_text="Policies are tried lowest first"
    )
    channel = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Only on channel"
    )
    priorities = forms.MultipleChoiceField(
        choices=Priority.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only for priorities",
    )
    tiers = forms.CharField(
        required=False,
        max_length=400,
        label="Only for customer tiers",
        help_text="Comma-separated, e.g. Gold, Platinum",
    )
    active_from = forms.TimeField(
        required=False,
        label="Only from (local time)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    active_until = forms.TimeField(
        required=False,
        label="Until (local time)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    is_default = forms.BooleanField(required=False, label="Make this the default policy")

    CONDITIONS = ("position", "channel", "priorities", "tiers", "active_from", "active_until")

    def __init__(
        self, *args: Any, channels: list[tuple[int, str]], default: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        channel_field = self.fields["channel"]
        assert isinstance(channel_field, forms.TypedChoiceField)  # noqa: S101  # declared above
        channel_field.choices = [("", "Any channel"), *channels]
        if default:
            for name in (*self.CONDITIONS, "is_default"):
                del self.fields[name]

    def changes(self) -> dict[str, Any]:
        """The cleaned values as sla_policy_create / sla_policy_update take them."""
        data = dict(self.cleaned_data)
        if "tiers" in data:
            data["tiers"] = [t.strip() for t in (data["tiers"] or "").split(",") if t.strip()]
        if not data.get("is_default"):
            data.pop("is_default", None)
        return data


class BusinessHoursForm(forms.Form):
    channel = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Applies to"
    )
    time_zone = forms.CharField(max_length=64, label="Time zone", help_text="e.g. Europe/London")
    shifts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Shifts",
        help_text="One per line, like “Mon 09:00-17:00”; two lines for a split day; an end "
        "before the start runs past midnight.",
    )
    holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Holidays",
        help_text="One date per line, like 2026-12-25.",
    )

    def __init__(self, *args: Any, channels: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        channel_field = self.fields["channel"]
        assert isinstance(channel_field, forms.TypedChoiceField)  # noqa: S101  # declared above
        channel_field.choices = [("", "The whole organization"), *channels]


class AutoResolveForm(forms.Form):
    after_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        label="Resolve conversations pending for (days)",
        help_text="Leave empty to never auto-resolve.",
    )
    message = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Closing message",
        help_text="Sent first when the platform's reply window is open; empty sends nothing.",
    )
