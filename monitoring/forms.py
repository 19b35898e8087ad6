from django import forms

from monitoring.models import DriftMonitor


class DriftMonitorForm(forms.ModelForm):
    class Meta:
        model = DriftMonitor
        fields = [
            "enabled",
            "schedule",
            "interval_minutes",
            "crontab",
            "window",
            "window_rows",
            "window_hours",
            "min_sample",
            "engine",
            "fdr_q",
            "numeric_effect_floor",
            "categorical_effect_floor",
            "dataset_rule",
            "dataset_threshold",
            "performance_alpha",
            "retrain_enabled",
            "retrain_cooldown_hours",
            "retrain_min_labelled",
            "retrain_every_days",
        ]
        labels = {
            "fdr_q": "FDR level q",
            "numeric_effect_floor": "Numeric effect floor (normalised Wasserstein)",
            "categorical_effect_floor": "Categorical effect floor (Jensen-Shannon)",
        }


class DriftUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A CSV of current rows; it must hold every feature the production version reads."
    )
