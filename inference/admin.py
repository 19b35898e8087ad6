"""Prediction log and batch scoring jobs in Django admin: both read-only.

The prediction log is written only by the serving path (COPY, inference.services) and its
labels by the feedback service, so admin shows it and never edits it. With tens of millions
of rows, its changelist never counts or sorts the whole table: the count stops at a cap, rows
come newest first along the primary key, and search is by exact id or request id only.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from inference.models import BatchScoringJob, PredictionLog


class CappedCountPaginator(Paginator):
    """Counts at most `cap` rows. `show_full_result_count = False` only drops the changelist's
    second count (of the unfiltered table); its paginator still counts the filtered rows, which
    unfiltered is every row. Past the cap the page shows the cap and the page links stop there;
    the filters and search narrow it."""

    cap = 10_000

    @cached_property
    def count(self):
        return self.object_list.values("pk")[: self.cap].count()


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
    paginator = CappedCountPaginator
    # UUIDv7 ids sort by the time they were made: newest first along the primary-key index.
    # created_at has no index of its own, so ordering by it sorts the whole table.
    ordering = ["-id"]


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
