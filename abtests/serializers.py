from rest_framework import serializers

from abtests.models import ABTest, Decision, Snapshot


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Snapshot
        fields = [
            "id",
            "phase",
            "created_at",
            "arms",
            "difference",
            "low",
            "high",
            "p_value",
            "prob_better",
            "srm_p_value",
            "stats",
        ]
        read_only_fields = fields


class DecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Decision
        fields = ["id", "kind", "outcome", "sentence", "evidence", "actor_label", "created_at"]
        read_only_fields = fields


class ABTestSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name", read_only=True)
    champion_version = serializers.IntegerField(source="champion.version", read_only=True)
    challenger_version = serializers.IntegerField(source="challenger.version", read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = ABTest
        fields = [
            "id",
            "model",
            "champion_version",
            "challenger_version",
            "mode",
            "challenger_share",
            "alpha",
            "mde",
            "min_labelled_per_arm",
            "max_duration_hours",
            "max_latency_increase",
            "max_error_rate_increase",
            "max_cost_increase",
            "auto_promote",
            "watch_hours",
            "status",
            "outcome",
            "origin",
            "summary",
            "created_by",
            "created_at",
            "started_at",
            "ended_at",
            "promoted_at",
            "watch_until",
            "watch_result",
        ]
        read_only_fields = fields


class ABTestDetailSerializer(ABTestSerializer):
    snapshots = SnapshotSerializer(many=True, read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)

    class Meta(ABTestSerializer.Meta):
        fields = [*ABTestSerializer.Meta.fields, "snapshots", "decisions"]
        read_only_fields = fields


SETTINGS = (
    "challenger_share",
    "alpha",
    "mde",
    "min_labelled_per_arm",
    "max_duration_hours",
    "max_latency_increase",
    "max_error_rate_increase",
    "max_cost_increase",
    "auto_promote",
    "watch_hours",
)


class CreateABTestInput(serializers.Serializer):
    model = serializers.CharField(max_length=100)
    challenger_version = serializers.IntegerField(min_value=1)
    mode = serializers.ChoiceField(choices=ABTest.Mode.choices, default=ABTest.Mode.SPLIT)
    challenger_share = serializers.FloatField(min_value=0.01, max_value=0.99, required=False)
    alpha = serializers.FloatField(min_value=0.001, max_value=0.2, required=False)
    mde = serializers.FloatField(min_value=0.001, max_value=0.5, required=False)
    min_labelled_per_arm = serializers.IntegerField(min_value=30, required=False)
    max_duration_hours = serializers.IntegerField(min_value=1, max_value=24 * 365, required=False)
    max_latency_increase = serializers.FloatField(min_value=0, max_value=100, required=False)
    max_error_rate_increase = serializers.FloatField(min_value=0, max_value=1, required=False)
    max_cost_increase = serializers.FloatField(
        min_value=0,
        max_value=100,
        required=False,
        allow_null=True,
        help_text="Cost guardrail: share above the champion's cost per 1,000 predictions.",
    )
    auto_promote = serializers.BooleanField(required=False)
    watch_hours = serializers.IntegerField(min_value=0, max_value=24 * 90, required=False)
    start = serializers.BooleanField(default=True, help_text="False: create a draft.")


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SampleSizeInput(serializers.Serializer):
    baseline = serializers.FloatField(help_text="The champion's accuracy, e.g. 0.85.")
    mde = serializers.FloatField(help_text="Smallest difference worth finding, e.g. 0.02.")
    alpha = serializers.FloatField(default=0.05)
    power = serializers.FloatField(default=0.8)
    share = serializers.FloatField(default=0.5, help_text="The challenger's share of units.")


class SampleSizeSerializer(serializers.Serializer):
    baseline = serializers.FloatField()
    mde = serializers.FloatField()
    alpha = serializers.FloatField()
    power = serializers.FloatField()
    share = serializers.FloatField()
    per_arm = serializers.DictField(child=serializers.IntegerField())
    total = serializers.IntegerField()
    sequential_per_arm = serializers.DictField(child=serializers.IntegerField())
