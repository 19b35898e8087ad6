"""Query-string filters of the A/B test API (django-filter; see registry.filters)."""

import django_filters

from abtests.models import ABTest


class ABTestFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="registered_model__name", help_text="Only tests of this registered model."
    )
    status = django_filters.ChoiceFilter(
        choices=ABTest.Status.choices, help_text="Only tests in this status."
    )
    mode = django_filters.ChoiceFilter(choices=ABTest.Mode.choices, help_text="Split or shadow.")

    class Meta:
        model = ABTest
        fields = ["model", "status", "mode"]
