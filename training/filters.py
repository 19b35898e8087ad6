"""Query-string filters of the training API (django-filter; see registry.filters)."""

import django_filters

from training.models import TrainingJob


class TrainingJobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=TrainingJob.Status.choices, help_text="Only jobs in this status."
    )

    class Meta:
        model = TrainingJob
        fields = ["status"]
