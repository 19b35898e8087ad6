from django import forms

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
