import math

from django import forms

MISSING_CHOICE = ("", "(missing)")


def _short(value: float) -> str:
    """A training statistic for a hint: 39, 38.58, 0.0012."""
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def _initial_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class NumericFeatureField(forms.Field):
    """A number or nothing (missing, which the imputer fills); the error names the feature."""

    def __init__(self, *, feature: dict, **kwargs):
        self.feature_name = feature["name"]
        low, high = feature.get("min"), feature.get("max")
        attrs = {"step": "any", "inputmode": "decimal"}
        hint = ""
        if low is not None and high is not None:
            hint = f"training range {_short(low)} – {_short(high)}"
            attrs["placeholder"] = f"{_short(low)} – {_short(high)}"
            if feature.get("mean") is not None:
                hint += f", mean {_short(feature['mean'])}"
        super().__init__(
            required=False, widget=forms.NumberInput(attrs=attrs), help_text=hint, **kwargs
        )

    def to_python(self, value):
        text = (value or "").strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise forms.ValidationError(
                f"{self.feature_name!r} must be a number, not {text[:40]!r}.", code="invalid"
            ) from None
        if not math.isfinite(number):
            raise forms.ValidationError(
                f"{self.feature_name!r} must be a finite number.", code="invalid"
            )
        return number


class OptionalChoiceField(forms.ChoiceField):
    """A dropdown whose empty option means a missing value (None)."""

    def __init__(self, *, values: dict, **kwargs):
        self.values = values
        super().__init__(
            required=False, choices=[MISSING_CHOICE, *[(k, k) for k in values]], **kwargs
        )

    def clean(self, value):
        value = super().clean(value)
        return self.values.get(value) if value else None


def _feature_field(feature: dict) -> forms.Field:
    kind = feature["kind"]
    missing = feature.get("missing_share")
    note = f"{missing:.0%} missing in training" if missing else ""
    if kind == "numeric":
        field = NumericFeatureField(feature=feature)
    elif kind == "boolean":
        field = OptionalChoiceField(values={"true": True, "false": False})
    else:
        categories = [str(c) for c in feature.get("categories", [])]
        field = OptionalChoiceField(values={c: c for c in categories})
        field.help_text = f"{len(categories)} categories"
    field.help_text = "; ".join(part for part in (field.help_text, note) if part)
    field.label = feature["name"]
    field.kind = kind
    return field


class PredictionForm(forms.Form):
    """One field per feature of a version's signature, in signature order.

    Field names carry a prefix, so a feature can be called anything (even `version`).
    """

    prefix = "feature"

    def __init__(self, *args, features: list[dict], example: dict | None = None, **kwargs):
        initial = {
            f["name"]: _initial_text((example or {}).get(f["name"])) for f in features if example
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.feature_names = [f["name"] for f in features]
        for feature in features:
            self.fields[feature["name"]] = _feature_field(feature)

    def row(self) -> dict:
        """The instance to serve: every feature, None where missing."""
        return {name: self.cleaned_data.get(name) for name in self.feature_names}


class FeedbackForm(forms.Form):
    prediction_id = forms.UUIDField(widget=forms.HiddenInput)
    label = forms.CharField(max_length=200)
    overwrite = forms.BooleanField(required=False)


class BatchScoringForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A header row naming every feature; other columns are copied to the output.",
    )
