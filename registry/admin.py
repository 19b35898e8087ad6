from django.contrib import admin, messages

from mlops_site.errors import DomainError
from registry import services
from registry.models import Dataset, ModelVersion, RegisteredModel


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "origin",
        "row_count",
        "column_count",
        "target",
        "target_kind",
        "created_at",
    ]
    list_filter = ["origin", "target_kind"]
    search_fields = ["name", "sha256", "original_filename"]
    readonly_fields = [
        f.name for f in Dataset._meta.fields if f.name not in ("name", "description")
    ]
    actions = ["delete_datasets"]

    def has_add_permission(self, request):
        return False  # datasets come in through the upload page, the API or a command

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Delete selected datasets (refused while a version uses one)")
    def delete_datasets(self, request, queryset):
        for dataset in queryset:
            try:
                services.dataset_delete(dataset=dataset)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Deleted {dataset.name}.", messages.SUCCESS)


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["registered_model", "version", "stage", "dataset", "created_at"]
    list_filter = ["stage"]
