from django.contrib import admin, messages

from core.errors import DomainError
from monitoring import selectors, services
from monitoring.models import DriftCheck, DriftMonitor, WorkerProbe


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
