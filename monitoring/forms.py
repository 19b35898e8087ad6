from django import forms

from core.events import KINDS
from monitoring.models import DriftMonitor


class DriftMonitorForm(forms.ModelForm):
    class Meta:
        model = DriftMonitor
        fields = list(DriftMonitor.EDITABLE)
        labels = {
            "fdr_q": "FDR level q",
            "numeric_effect_floor": "Numeric effect floor (normalised Wasserstein)",
            "categorical_effect_floor": "Categorical effect floor (Jensen-Shannon)",
        }


class DriftUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A CSV of current rows; it must hold every feature the production version reads."
    )


class WebhookForm(forms.Form):
    url = forms.CharField(max_length=500, label="URL", help_text="http:// or https:// only.")
    kinds = forms.MultipleChoiceField(
        choices=[(k, f"{k} — {label}") for k, label in KINDS.items()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )
    description = forms.CharField(max_length=200, required=False)
