from django.conf import settings
from django.db import models
from django.db.models import Q


class Dataset(models.Model):
    class Origin(models.TextChoices):
        UPLOAD = "upload", "Upload"
        BUILTIN = "builtin", "Built-in"
        SYNTHETIC = "synthetic", "Synthetic"

    class TargetKind(models.TextChoices):
        BINARY = "binary", "Binary"
        MULTICLASS = "multiclass", "Multiclass"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.UPLOAD)
    original_filename = models.CharField(max_length=255, blank=True)
    # Path of the stored CSV, relative to settings.DATA_DIR.
    file_path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.BigIntegerField()
    delimiter = models.CharField(max_length=4)
    row_count = models.PositiveIntegerField()
    column_count = models.PositiveIntegerField()
    # One profile per column, in file order: name, kind, flags, missing share, distinct count,
    # numeric summary or top categories, and a histogram for the page's charts.
    columns = models.JSONField(default=list)
    target = models.CharField(max_length=200, blank=True)
    target_kind = models.CharField(max_length=16, choices=TargetKind.choices, blank=True)
    # [[label, count], ...] over every class of the target, most frequent first.
    target_classes = models.JSONField(default=list, blank=True)
    # The generator's parameters for synthetic datasets (and citation for built-in ones).
    source_params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def absolute_path(self):
        return settings.DATA_DIR / self.file_path

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def column(self, name: str) -> dict | None:
        return next((c for c in self.columns if c["name"] == name), None)


class RegisteredModel(models.Model):
    """A named model; its versions carry the artifacts (filled in by the training issue)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    class Stage(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        ARCHIVED = "archived", "Archived"

    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.CANDIDATE)
    # PROTECT: a dataset a version was trained on cannot be deleted (lineage must stay whole).
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="model_versions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["registered_model", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version"], name="unique_version_per_model"
            ),
            models.UniqueConstraint(
                fields=["registered_model"],
                condition=Q(stage="production"),
                name="one_production_version_per_model",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version}"
