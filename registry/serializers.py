from rest_framework import serializers

from engine import vocabulary
from registry.models import Dataset, HubExport, ModelVersion, RegisteredModel, StageTransition
from registry.synthetic import SyntheticParams


class DatasetSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "description",
            "origin",
            "original_filename",
            "sha256",
            "size_bytes",
            "delimiter",
            "row_count",
            "column_count",
            "target",
            "target_kind",
            "target_classes",
            "columns",
            "source_params",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class DatasetListSerializer(DatasetSerializer):
    class Meta(DatasetSerializer.Meta):
        fields = [
            f for f in DatasetSerializer.Meta.fields if f not in ("columns", "target_classes")
        ]
        read_only_fields = fields


class CreateDatasetInput(serializers.Serializer):
    file = serializers.FileField(help_text="CSV file (multipart).")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    target = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)


class SetTargetInput(serializers.Serializer):
    target = serializers.CharField(max_length=200)


_D = SyntheticParams()


class GenerateSyntheticInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    rows = serializers.IntegerField(default=_D.rows, min_value=50, max_value=1_000_000)
    features = serializers.IntegerField(default=_D.features, min_value=1, max_value=200)
    informative_share = serializers.FloatField(
        default=_D.informative_share, min_value=0.01, max_value=1
    )
    n_classes = serializers.IntegerField(default=_D.n_classes, min_value=2, max_value=20)
    class_balance = serializers.FloatField(default=_D.class_balance, min_value=0.01, max_value=0.99)
    label_noise = serializers.FloatField(default=_D.label_noise, min_value=0, max_value=0.49)
    class_sep = serializers.FloatField(default=_D.class_sep, min_value=0, max_value=10)
    seed = serializers.IntegerField(default=_D.seed, min_value=0, max_value=2**32 - 1)
    mean_shift = serializers.FloatField(default=0.0, min_value=-20, max_value=20)
    scale_change = serializers.FloatField(default=1.0, min_value=0.05, max_value=20)
    prior_shift = serializers.FloatField(default=0.0, min_value=-0.98, max_value=0.98)
    drift_features = serializers.IntegerField(default=_D.drift_features, min_value=0, max_value=200)

    def params(self) -> SyntheticParams:
        data = {k: v for k, v in self.validated_data.items() if k != "name"}
        return SyntheticParams(**data)


class StageTransitionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.registered_model.name", read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)

    class Meta:
        model = StageTransition
        fields = [
            "id",
            "model",
            "version",
            "from_stage",
            "to_stage",
            "actor_label",
            "reason",
            "evidence",
            "created_at",
        ]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name", read_only=True)
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    training_job = serializers.PrimaryKeyRelatedField(read_only=True)
    corrupt = serializers.BooleanField(source="is_corrupt", read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "version",
            "stage",
            "family",
            "params",
            "metrics",
            "validation_score",
            "threshold",
            "signature",
            "input_example",
            "dataset",
            "dataset_sha256",
            "training_job",
            "library_versions",
            "artifact_files",
            "manifest_sha256",
            "size_bytes",
            "corrupt",
            "integrity_error",
            "description",
            "created_at",
        ]
        read_only_fields = fields


class ModelVersionListSerializer(ModelVersionSerializer):
    key_metrics = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = [
            "id",
            "model",
            "version",
            "stage",
            "family",
            "key_metrics",
            "validation_score",
            "dataset",
            "training_job",
            "corrupt",
            "created_at",
        ]
        read_only_fields = fields

    def get_key_metrics(self, version) -> dict:
        return {k: version.metrics.get(k) for k in vocabulary.KEY_METRICS if k in version.metrics}


class RegisteredModelSerializer(serializers.ModelSerializer):
    production_version = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = RegisteredModel
        fields = ["id", "name", "description", "production_version", "version_count", "created_at"]
        read_only_fields = fields

    def get_production_version(self, model) -> int | None:
        return next((v.version for v in model.versions.all() if v.stage == "production"), None)


class TransitionInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class HubExportSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.registered_model.name", read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)

    class Meta:
        model = HubExport
        fields = [
            "id",
            "model",
            "version",
            "repo_id",
            "private",
            "status",
            "progress",
            "files_total",
            "files_done",
            "commit_sha",
            "url",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class HubExportInput(serializers.Serializer):
    repo_id = serializers.CharField(max_length=200, help_text="owner/name on the Hub.")
    private = serializers.BooleanField(default=True)
