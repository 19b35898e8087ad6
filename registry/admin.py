from django.contrib import admin, messages

from core.errors import DomainError
from registry import services
from registry.models import (
    Dataset,
    HubExport,
    HubToken,
    ModelVersion,
    RegisteredModel,
    StageTransition,
)


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


class StageTransitionInline(admin.TabularInline):
    model = StageTransition
    extra = 0
    can_delete = False
    fields = ["created_at", "from_stage", "to_stage", "actor_label", "reason", "evidence"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["registered_model", "version", "stage", "family", "dataset", "created_at"]
    list_filter = ["stage", "family", "registered_model"]
    # Stages change only through the transition service (the actions below), never by editing.
    readonly_fields = [f.name for f in ModelVersion._meta.fields if f.name != "description"]
    inlines = [StageTransitionInline]
    actions = ["promote_to_production", "move_to_staging", "archive_versions"]

    def has_add_permission(self, request):
        return False

    def _transition(self, request, queryset, to_stage: str):
        for version in queryset:
            try:
                services.model_version_transition(
                    version=version,
                    to_stage=to_stage,
                    actor=request.user,
                    reason="Admin action",
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{version} moved to {to_stage}.", messages.SUCCESS)

    @admin.action(description="Promote to production (archives the current one)")
    def promote_to_production(self, request, queryset):
        if queryset.count() > 1:
            self.message_user(request, "Promote one version at a time.", messages.ERROR)
            return
        self._transition(request, queryset, ModelVersion.Stage.PRODUCTION)

    @admin.action(description="Move to staging")
    def move_to_staging(self, request, queryset):
        self._transition(request, queryset, ModelVersion.Stage.STAGING)

    @admin.action(description="Archive")
    def archive_versions(self, request, queryset):
        self._transition(request, queryset, ModelVersion.Stage.ARCHIVED)


@admin.register(StageTransition)
class StageTransitionAdmin(admin.ModelAdmin):
    list_display = ["model_version", "from_stage", "to_stage", "actor_label", "created_at"]
    list_filter = ["to_stage"]
    readonly_fields = [f.name for f in StageTransition._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail is append-only


@admin.register(HubExport)
class HubExportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "model_version",
        "repo_id",
        "private",
        "status",
        "commit_sha",
        "created_at",
    ]
    list_filter = ["status", "private"]
    list_select_related = ["model_version__registered_model"]

    def has_add_permission(self, request):
        return False  # exports start from the version page or the API

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HubToken)
class HubTokenAdmin(admin.ModelAdmin):
    """Who stored a Hub token; the token itself is never shown (only removable)."""

    list_display = ["user", "updated_at"]
    exclude = ["encrypted"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
