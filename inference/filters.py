"""Query-string filters of the inference API (django-filter; see registry.filters)."""

import django_filters

from inference.models import BatchScoringJob


class BatchScoringJobFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="registered_model__name", help_text="Only jobs scoring this registered model."
    )
    status = django_filters.ChoiceFilter(
        choices=BatchScoringJob.Status.choices, help_text="Only jobs in this status."
    )

    class Meta:
        model = BatchScoringJob
        fields = ["model", "status"]
