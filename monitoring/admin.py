from django.contrib import admin, messages

from core.errors import DomainError
from monitoring import selectors, services
from monitoring.models import CostRate, CostRecord, DriftCheck, DriftMonitor, WorkerProbe


@admin.register(WorkerProbe)
class WorkerProbeAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "worker", "requested_by", "requested_at", "completed_at"]
    list_filter = ["status"]


@admin.register(DriftMonitor)
class DriftMonitorAdmin(admin.ModelAdmin):
    """Saving here goes through the service, so the Beat schedule follows the monitor."""

    list_display = ["registered_model", "enabled", "schedule_text", "next_run", "engine", "window"]
    list_filter = ["enabled", "engine", "schedule"]
    search_fields = ["registered_model__name"]
    readonly_fields = ["registered_model", "periodic_task", "next_run", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False  # a model gets its monitor when a version first reaches production

    @admin.display(description="Next run")
    def next_run(self, monitor):
        return selectors.drift_monitor_next_run(monitor) or "—"

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.drift_monitor_save(monitor=obj, **changes)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(DriftCheck)
class DriftCheckAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "model_version",
        "status",
        "verdict",
        "drift_share",
        "n_current",
        "trigger",
        "source",
        "created_at",
    ]
    list_filter = ["status", "verdict", "trigger", "source"]
    list_select_related = ["model_version__registered_model"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CostRate)
class CostRateAdmin(admin.ModelAdmin):
    """Prices: the newest rate of a resource in effect when a cost is recorded prices it
    (records keep the price they were given). With no rate, the COST_* settings apply."""

    list_display = ["resource", "unit_price", "currency", "effective_from", "note"]
    list_filter = ["resource"]


@admin.register(CostRecord)
class CostRecordAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "kind",
        "model_name",
        "version",
        "source",
        "cpu_seconds",
        "bytes",
        "predictions",
        "amount",
        "currency",
    ]
    list_filter = ["kind", "model_name"]
    search_fields = ["source", "model_name", "key"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False  # measured, never typed in

    def has_change_permission(self, request, obj=None):
        return False
