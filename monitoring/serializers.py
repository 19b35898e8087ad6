from rest_framework import serializers

from core.costs import KINDS as COST_KINDS
from monitoring.models import (
    CostRate,
    CostRecord,
    DriftCheck,
    DriftMonitor,
    Event,
    PerformanceSnapshot,
    Retraining,
    Webhook,
    WebhookDelivery,
)
from monitoring.selectors import COST_GROUPS


class RetrainingSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="monitor.registered_model.name", read_only=True)
    champion_version = serializers.IntegerField(source="champion.version", read_only=True)
    challenger_version = serializers.IntegerField(
        source="challenger.version", read_only=True, allow_null=True
    )

    class Meta:
        model = Retraining
        fields = [
            "id",
            "model",
            "trigger",
            "status",
            "error",
            "drift_check",
            "champion_version",
            "challenger_version",
            "dataset",
            "training_job",
            "n_parent_rows",
            "n_window_rows",
            "n_holdout_rows",
            "comparison",
            "ab_test",
            "ab_test_note",
            "created_at",
            "settled_at",
        ]
        read_only_fields = fields


class DriftMonitorSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name", read_only=True)
    schedule_text = serializers.CharField(read_only=True)
    latest_check = serializers.SerializerMethodField()

    class Meta:
        model = DriftMonitor
        fields = [
            "id",
            "model",
            *DriftMonitor.EDITABLE,
            "schedule_text",
            "latest_check",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "model",
            "schedule_text",
            "latest_check",
            "created_at",
            "updated_at",
        ]

    def get_latest_check(self, monitor) -> dict | None:
        check = monitor.checks.order_by("-created_at", "-id").first()
        if check is None:
            return None
        return {
            "id": check.pk,
            "status": check.status,
            "verdict": check.verdict,
            "created_at": check.created_at,
        }


class DriftMonitorUpdateInput(serializers.ModelSerializer):
    """The editable fields; each optional (PATCH)."""

    class Meta:
        model = DriftMonitor
        fields = list(DriftMonitor.EDITABLE)
        extra_kwargs = {name: {"required": False} for name in fields}


class DriftCheckSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.registered_model.name", read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)
    drifted_features = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = DriftCheck
        fields = [
            "id",
            "model",
            "version",
            "status",
            "error",
            "trigger",
            "source",
            "engine",
            "config",
            "window_start",
            "window_end",
            "n_reference",
            "n_current",
            "duration_s",
            "verdict",
            "drift_share",
            "weighted_drift_share",
            "drifted_features",
            "performance",
            "performance_drop",
            "retraining_note",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class DriftCheckDetailSerializer(DriftCheckSerializer):
    class Meta(DriftCheckSerializer.Meta):
        fields = [*DriftCheckSerializer.Meta.fields, "features"]
        read_only_fields = fields


class CreateDriftCheckInput(serializers.Serializer):
    model = serializers.CharField(
        help_text="The registered model whose production version to check."
    )
    file = serializers.FileField(
        required=False,
        help_text="A CSV of current rows to check instead of the prediction-log window; it "
        "must hold every feature the version reads.",
    )


class PerformanceSnapshotSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name", read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)
    error_rate = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = PerformanceSnapshot
        fields = [
            "model",
            "version",
            "interval_start",
            "interval_seconds",
            "requests",
            "rows",
            "errors",
            "errors_by_reason",
            "error_rate",
            "latency_p50_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            "rows_per_second",
            "labelled",
            "correct",
            "live_accuracy",
            "estimated_accuracy",
        ]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "kind", "model_name", "version", "summary", "data", "created_at"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_kind = serializers.CharField(source="event.kind", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_kind",
            "status",
            "attempts",
            "response_code",
            "latency_ms",
            "error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
        ]
        read_only_fields = fields


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook without its secret (only the answer to its creation carries that)."""

    class Meta:
        model = Webhook
        fields = ["id", "url", "kinds", "active", "description", "created_at"]
        read_only_fields = ["id", "created_at"]


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown this once; store it now.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookInput(serializers.Serializer):
    url = serializers.CharField(max_length=500)
    kinds = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class CostRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = CostRate
        fields = ["id", "resource", "unit_price", "currency", "effective_from", "note"]


class CostRecordSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_name", read_only=True)

    class Meta:
        model = CostRecord
        fields = [
            "id",
            "kind",
            "model",
            "version",
            "source",
            "source_id",
            "started_at",
            "ended_at",
            "cpu_seconds",
            "bytes",
            "predictions",
            "amount",
            "currency",
            "unit_price",
            "detail",
        ]


class CostReportInput(serializers.Serializer):
    group_by = serializers.CharField(
        required=False,
        default="day,kind",
        help_text="Comma-separated: any of day, kind, model, version.",
    )
    model = serializers.CharField(required=False, help_text="Only this model's costs.")
    version = serializers.IntegerField(required=False, min_value=1)
    kind = serializers.ChoiceField(choices=list(COST_KINDS), required=False)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601; default 30 days ago.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601; default now.")

    def validate_group_by(self, value: str) -> tuple[str, ...]:
        groups = tuple(g.strip() for g in value.split(",") if g.strip())
        unknown = [g for g in groups if g not in COST_GROUPS]
        if unknown or not groups:
            raise serializers.ValidationError(
                f"Group by any of {', '.join(COST_GROUPS)}; got {value!r}."
            )
        return groups


class CostReportRowSerializer(serializers.Serializer):
    day = serializers.DateField(required=False)
    kind = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    version = serializers.IntegerField(required=False, allow_null=True)
    amount = serializers.DecimalField(max_digits=20, decimal_places=8)
    cpu_seconds = serializers.FloatField()
    bytes = serializers.IntegerField()
    predictions = serializers.IntegerField()
    records = serializers.IntegerField()


class CostPerVersionSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    total = serializers.DecimalField(max_digits=20, decimal_places=8)
    inference = serializers.DecimalField(max_digits=20, decimal_places=8)
    predictions = serializers.IntegerField()
    per_1k = serializers.DecimalField(max_digits=20, decimal_places=8, allow_null=True)
    by_kind = serializers.DictField(child=serializers.DecimalField(max_digits=20, decimal_places=8))


class CostJobSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    model = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    amount = serializers.DecimalField(max_digits=20, decimal_places=8)
    cpu_seconds = serializers.FloatField()
    workers = serializers.IntegerField()
    started_at = serializers.DateTimeField()


class CostReportSerializer(serializers.Serializer):
    group_by = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    rows = CostReportRowSerializer(many=True)
    totals = CostReportRowSerializer()
    per_version = CostPerVersionSerializer(many=True)
    training_jobs = CostJobSerializer(many=True)
