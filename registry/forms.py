from django import forms

from registry.synthetic import SyntheticParams


class DatasetUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row, UTF-8; comma, semicolon, tab or pipe.")
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the file name.")
    target = forms.CharField(
        max_length=200, required=False, help_text="The column to predict; can be set later."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class DatasetTargetForm(forms.Form):
    target = forms.ChoiceField()

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [(c, c) for c in columns]


_DEFAULTS = SyntheticParams()


class SyntheticDatasetForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    rows = forms.IntegerField(initial=_DEFAULTS.rows, min_value=50, max_value=1_000_000)
    features = forms.IntegerField(initial=_DEFAULTS.features, min_value=1, max_value=200)
    informative_share = forms.FloatField(
        initial=_DEFAULTS.informative_share, min_value=0.01, max_value=1.0
    )
    n_classes = forms.IntegerField(initial=_DEFAULTS.n_classes, min_value=2, max_value=20)
    class_balance = forms.FloatField(
        initial=_DEFAULTS.class_balance,
        min_value=0.01,
        max_value=0.99,
        help_text="Share of the last class (the positive one when binary).",
    )
    label_noise = forms.FloatField(initial=_DEFAULTS.label_noise, min_value=0.0, max_value=0.49)
    class_sep = forms.FloatField(initial=_DEFAULTS.class_sep, min_value=0.0, max_value=10.0)
    seed = forms.IntegerField(initial=_DEFAULTS.seed, min_value=0, max_value=2**32 - 1)
    mean_shift = forms.FloatField(
        initial=0.0, min_value=-20, max_value=20, help_text="Drift: shift in standard deviations."
    )
    scale_change = forms.FloatField(
        initial=1.0, min_value=0.05, max_value=20, help_text="Drift: multiply the spread."
    )
    prior_shift = forms.FloatField(
        initial=0.0, min_value=-0.98, max_value=0.98, help_text="Drift: add to the class balance."
    )
    drift_features = forms.IntegerField(
        initial=_DEFAULTS.drift_features,
        min_value=0,
        max_value=200,
        help_text="How many features (x0, x1, ...) the shift and scale change touch.",
    )
    category_shift = forms.FloatField(
        initial=0.0,
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Drift: share of rows whose channel becomes “partner”.",
    )
    concept_drift = forms.FloatField(
        initial=0.0,
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Concept drift: share of rows with x0 above its mean whose label changes; "
        "the features do not move.",
    )

    def params(self) -> SyntheticParams:
        data = {k: v for k, v in self.cleaned_data.items() if k != "name"}
        for knob in ("category_shift", "concept_drift"):  # optional: empty means none
            data[knob] = data.get(knob) or 0.0
        return SyntheticParams(**data)
