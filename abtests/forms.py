from django import forms

from abtests.models import ABTest
from abtests.serializers import SETTINGS


class ABTestForm(forms.ModelForm):
    """The start form: the challenger (any version of the model but production and archived
    ones), the mode and the test's settings; the calculator beside it reads the same fields."""

    challenger = forms.TypedChoiceField(coerce=int, label="Challenger version")
    start = forms.BooleanField(
        required=False, initial=True, label="Start now (otherwise save a draft)"
    )

    class Meta:
        model = ABTest
        fields = ["mode", *SETTINGS]
        labels = {
            "mde": "Minimum detectable effect",
            "min_labelled_per_arm": "Minimum labelled rows per arm",
            "max_latency_increase": "Latency guardrail (p95, share above champion)",
            "max_error_rate_increase": "Error-rate guardrail (points above champion)",
            "max_cost_increase": "Cost guardrail (share above champion per 1,000 predictions; "
            "empty: off)",
        }

    field_order = ["challenger", "mode", *SETTINGS, "start"]

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["challenger"].choices = [
            (v.version, f"v{v.version} · {v.family} · {v.get_stage_display().lower()}")
            for v in versions
        ]
