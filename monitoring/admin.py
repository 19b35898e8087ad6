from django.contrib import admin

from monitoring.models import WorkerProbe


@admin.register(WorkerProbe)
class WorkerProbeAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "worker", "requested_by", "requested_at", "completed_at"]
    list_filter = ["status"]
