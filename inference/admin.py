"""Prediction log and batch scoring jobs in Django admin: both read-only.

The prediction log is written only by the serving path (COPY, inference.services) and its
labels by the feedback service, so admin shows it and never edits it. With tens of millions
of rows, the changelist skips the full count and searches by exact id or request id only.
"""

from django.contrib import admin

from inference.models import BatchScoringJob, PredictionLog


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "registered_model",
        "model_version",
        "source",
        "prediction",
        "label",
        "is_correct",
        "arm",
        "latency_ms",
        "created_at",
    ]
    list_filter = ["source", "registered_model"]
    list_select_related = ["registered_model", "model_version"]
    search_fields = ["=id", "=request_id"]
    show_full_result_count = False
    ordering = ["-created_at"]


@admin.register(BatchScoringJob)
class BatchScoringJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "registered_model",
        "model_version",
        "status",
        "rows_done",
        "rows_failed",
        "rows_total",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "registered_model"]
    list_select_related = ["registered_model", "model_version", "created_by"]
    search_fields = ["original_filename"]
