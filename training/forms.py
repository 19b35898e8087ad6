from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.conf import settings
from django.utils.text import slugify

from engine import vocabulary
from registry.selectors import dataset_labelled_list
from training.services import FAMILIES, IMBALANCE_STRATEGIES, METRICS

if TYPE_CHECKING:
    from registry.models import Dataset

FAMILY_LABELS = {c.name: c.label for c in vocabulary.FAMILIES}
IMBALANCE_LABELS = {c.name: c.label for c in vocabulary.IMBALANCE_STRATEGIES}
METRIC_LABELS = {c.name: c.label for c in vocabulary.OBJECTIVES}


def default_model_name(dataset: Dataset | None) -> str:
    if dataset is None:
        return ""
    return (slugify(dataset.name) or "model")[:100].strip("-_") or "model"


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.name} — target {obj.target} ({obj.target_kind}, {obj.row_count} rows)"


class TrainingJobForm(forms.Form):
    dataset = DatasetChoiceField(queryset=dataset_labelled_list().none(), empty_label=None)
    model_name = forms.CharField(
        max_length=100,
        required=False,
        help_text="Lowercase letters, digits, '-' or '_'. Defaults to the dataset's name.",
    )
    target = forms.CharField(
        max_length=200, required=False, help_text="Leave empty to use the dataset's target."
    )
    families = forms.MultipleChoiceField(
        choices=[(f, FAMILY_LABELS.get(f, f)) for f in FAMILIES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    imbalance = forms.MultipleChoiceField(
        choices=[(s, IMBALANCE_LABELS.get(s, s)) for s in IMBALANCE_STRATEGIES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Imbalance handling",
    )
    metric = forms.ChoiceField(choices=[(m, METRIC_LABELS.get(m, m)) for m in METRICS])
    # Bounds on trials, timeout and parallelism are the service's (they follow settings).
    n_trials = forms.IntegerField(label="Trials", widget=forms.NumberInput(attrs={"min": 1}))
    timeout_s = forms.FloatField(
        required=False, label="Timeout (s)", help_text="Optional; the search stops after this."
    )
    seed = forms.IntegerField(min_value=0, max_value=2**32 - 1, initial=0)
    parallelism = forms.IntegerField(
        initial=1,
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="Trial workers in parallel (needs PostgreSQL; otherwise runs as 1).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        datasets = dataset_labelled_list()
        self.fields["dataset"].queryset = datasets
        self.fields["dataset"].widget.attrs.update(
            {"data-fills": "#id_model_name", "data-fill-values": "model-name-defaults"}
        )
        newest = datasets.first()
        self.fields["dataset"].initial = newest.pk if newest else None
        self.fields["model_name"].initial = default_model_name(newest)
        self.fields["families"].initial = list(FAMILIES)
        self.fields["imbalance"].initial = list(IMBALANCE_STRATEGIES)
        self.fields["metric"].initial = "auto"
        self.fields["n_trials"].initial = settings.TRAINING_DEFAULT_TRIALS
        self.fields["n_trials"].widget.attrs["max"] = settings.TRAINING_MAX_TRIALS
        self.fields["parallelism"].widget.attrs["max"] = settings.TRAINING_MAX_PARALLELISM
        self.fields["timeout_s"].widget.attrs["min"] = 1

    def model_name_defaults(self) -> dict[str, str]:
        """Dataset pk -> its default model name, for the page to fill in on a change."""
        return {str(d.pk): default_model_name(d) for d in self.fields["dataset"].queryset}

    def clean(self):
        cleaned = super().clean()
        dataset = cleaned.get("dataset")
        if dataset is not None and not cleaned.get("model_name"):
            cleaned["model_name"] = default_model_name(dataset)
        return cleaned

    def service_kwargs(self) -> dict:
        """The keyword arguments of training_job_create; the service validates the rest."""
        c = self.cleaned_data
        return {
            "dataset": c["dataset"],
            "model_name": c["model_name"],
            "target": c["target"],
            "families": list(c["families"]),
            "imbalance": list(c["imbalance"]),
            "metric": c["metric"],
            "n_trials": c["n_trials"],
            "timeout_s": c["timeout_s"],
            "seed": c["seed"],
            "parallelism": c["parallelism"],
        }
