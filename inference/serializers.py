from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from inference.models import BatchScoringJob
from registry.selectors import Stage


class BatchScoringJobSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name", read_only=True)
    version = serializers.IntegerField(source="model_version.version", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    progress = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchScoringJob
        fields = [
            "id",
            "model",
            "version",
            "status",
            "original_filename",
            "input_bytes",
            "rows_total",
            "rows_done",
            "rows_failed",
            "progress",
            "error",
            "download_url",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, job) -> float:
        return round(job.progress, 4)

    def get_download_url(self, job) -> str | None:
        if job.status != BatchScoringJob.Status.SUCCEEDED:
            return None
        url = reverse("batch-job-download", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class CreateBatchScoringJobInput(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (multipart) with a header naming every feature of the version; other "
        "columns are copied to the output."
    )
    model = serializers.SlugField(max_length=100)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Defaults to the production version."
    )
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)


class FeedbackInput(serializers.Serializer):
    label = serializers.JSONField(help_text="The true class, one of the model's class labels.")
    overwrite = serializers.BooleanField(default=False)

    def validate_label(self, value):
        if value is None or isinstance(value, dict | list | bool):
            raise serializers.ValidationError("Send the class label as a string or number.")
        return value


class FeedbackItemInput(FeedbackInput):
    prediction_id = serializers.CharField(max_length=100)
    overwrite = None


class BulkFeedbackInput(serializers.Serializer):
    items = FeedbackItemInput(many=True, allow_empty=False)
    overwrite = serializers.BooleanField(default=False)

    def validate_items(self, value):
        limit = settings.FEEDBACK_MAX_ITEMS
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} items per request.")
        return value
