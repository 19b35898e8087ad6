from django.contrib import admin, messages

from core.errors import DomainError
from training import services
from training.models import TrainingJob, Trial


class TrialInline(admin.TabularInline):
    model = Trial
    extra = 0
    can_delete = False
    fields = ["number", "family", "imbalance", "state", "value", "duration_s", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "model_name",
        "dataset",
        "status",
        "trigger",
        "trials_done",
        "n_trials",
        "best_value",
        "created_at",
    ]
    list_filter = ["status", "trigger"]
    search_fields = ["model_name", "dataset__name"]
    readonly_fields = [f.name for f in TrainingJob._meta.fields]
    inlines = [TrialInline]
    actions = ["cancel_jobs"]

    def has_add_permission(self, request):
        return False  # jobs start from the training page, the API or `manage.py train`

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            try:
                services.training_job_cancel(job=job)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.WARNING)
            else:
                self.message_user(request, f"Cancel requested for job {job.pk}.")


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["job", "number", "family", "imbalance", "state", "value", "duration_s"]
    list_filter = ["state", "family"]
    readonly_fields = [f.name for f in Trial._meta.fields]

    def has_add_permission(self, request):
        return False
