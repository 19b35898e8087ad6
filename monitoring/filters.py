"""Query-string filters of the monitoring API (django-filter; see registry.filters)."""

import django_filters

from core.costs import KINDS as COST_KINDS
from monitoring.models import CostRecord, DriftCheck, DriftMonitor, Event, PerformanceSnapshot


class DriftMonitorFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="registered_model__name", help_text="Only this registered model's monitor."
    )

    class Meta:
        model = DriftMonitor
        fields = ["model"]


class DriftCheckFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="monitor__registered_model__name",
        help_text="Only checks of this registered model.",
    )
    verdict = django_filters.ChoiceFilter(
        choices=DriftCheck.Verdict.choices, help_text="Only checks with this verdict."
    )
    status = django_filters.ChoiceFilter(
        choices=DriftCheck.Status.choices, help_text="Only checks in this status."
    )

    class Meta:
        model = DriftCheck
        fields = ["model", "verdict", "status"]


class PerformanceSnapshotFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="registered_model__name", help_text="Only this registered model's snapshots."
    )
    version = django_filters.NumberFilter(
        field_name="model_version__version", help_text="Only this version number."
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="interval_start",
        lookup_expr="gte",
        help_text="Only intervals starting at or after this ISO 8601 time.",
    )

    class Meta:
        model = PerformanceSnapshot
        fields = ["model", "version", "since"]


class EventFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model_name", help_text="Only this model's.")
    kind = django_filters.CharFilter(help_text="Only this kind, e.g. version.promoted.")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Only events at or after this."
    )

    class Meta:
        model = Event
        fields = ["model", "kind", "since"]


class CostRecordFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model_name", help_text="Only this model's.")
    version = django_filters.NumberFilter(help_text="Only this version number.")
    kind = django_filters.ChoiceFilter(
        choices=list(COST_KINDS.items()), help_text="Only this kind of cost."
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", help_text="Only records starting at or after."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="lt", help_text="Only records starting before."
    )

    class Meta:
        model = CostRecord
        fields = ["model", "version", "kind", "since", "until"]
