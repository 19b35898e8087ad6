from rest_framework import serializers

from registry.selectors import dataset_queryset
from training.models import TrainingJob, Trial
from training.services import FAMILIES, IMBALANCE_STRATEGIES, METRICS


class TrialSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trial
        fields = [
            "number",
            "family",
            "imbalance",
            "params",
            "state",
            "value",
            "duration_s",
            "curve",
            "error",
            "finished_at",
        ]
        read_only_fields = fields


class TrainingJobSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    result_version = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "status",
            "trigger",
            "dataset",
            "model_name",
            "config",
            "n_trials",
            "trials_done",
            "trials_pruned",
            "trials_failed",
            "best_value",
            "parallelism",
            "progress",
            "cancel_requested",
            "error",
            "cpu_seconds",
            "worker",
            "result_version",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_result_version(self, job) -> dict | None:
        v = job.result_version
        if v is None:
            return None
        return {
            "id": v.pk,
            "model": v.registered_model.name,
            "version": v.version,
            "stage": v.stage,
        }

    def get_progress(self, job) -> float:
        return round(job.progress_share, 4)


class TrainingJobDetailSerializer(TrainingJobSerializer):
    trials = TrialSerializer(many=True, read_only=True)

    class Meta(TrainingJobSerializer.Meta):
        fields = [*TrainingJobSerializer.Meta.fields, "trials"]
        read_only_fields = fields


class CreateTrainingJobInput(serializers.Serializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=dataset_queryset())
    model_name = serializers.CharField(max_length=100)
    target = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    families = serializers.ListField(
        child=serializers.ChoiceField(choices=FAMILIES), required=False, allow_empty=True
    )
    imbalance = serializers.ListField(
        child=serializers.ChoiceField(choices=IMBALANCE_STRATEGIES),
        required=False,
        allow_empty=True,
    )
    metric = serializers.ChoiceField(choices=METRICS, default="auto")
    n_trials = serializers.IntegerField(required=False)
    timeout_s = serializers.FloatField(required=False, allow_null=True, default=None)
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**32 - 1)
    val_fraction = serializers.FloatField(default=0.15)
    test_fraction = serializers.FloatField(default=0.15)
    parallelism = serializers.IntegerField(default=1)
    max_epochs = serializers.IntegerField(default=60)
