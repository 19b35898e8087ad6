"""Query-string filters of the registry API, declared once (django-filter): the views apply
them, drf-spectacular documents them, and a bad value is a 400 naming the parameter."""

import django_filters

from registry.models import ModelVersion, StageTransition


class ModelVersionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="registered_model__name", help_text="Only versions of this registered model."
    )
    stage = django_filters.ChoiceFilter(
        choices=ModelVersion.Stage.choices, help_text="Only versions in this stage."
    )

    class Meta:
        model = ModelVersion
        fields = ["model", "stage"]


class StageTransitionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="model_version__registered_model__name",
        help_text="Only transitions of this registered model's versions.",
    )

    class Meta:
        model = StageTransition
        fields = ["model"]
