from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import Job, UncancellableJobStatus


class Dataset(models.Model):
    class Origin(models.TextChoices):
        UPLOAD = "upload", "Upload"
        BUILTIN = "builtin", "Built-in"
        SYNTHETIC = "synthetic", "Synthetic"
        RETRAINING = "retraining", "Retraining (training data + labelled predictions)"
        IMPORTED = "imported", "Imported (an exported version's reference sample)"

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
    """A named model; its versions carry the artifacts, metrics and stage."""

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
    dataset_sha256 = models.CharField(max_length=64, blank=True)
    training_job = models.ForeignKey(
        "training.TrainingJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    family = models.CharField(max_length=32, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # Test-set metrics of this version (scored once), curves and confusion matrix included.
    metrics = models.JSONField(default=dict, blank=True)
    validation_score = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    # Features (name, kind, categories, training ranges), target and class labels.
    signature = models.JSONField(default=dict, blank=True)
    input_example = models.JSONField(default=list, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    # Relative to settings.ARTIFACTS_DIR; files maps name -> {"sha256", "bytes"}.
    artifact_path = models.CharField(max_length=500, blank=True)
    artifact_files = models.JSONField(default=dict, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    # Up to 10,000 training rows (raw features) kept beside the artifacts for drift checks;
    # relative to settings.ARTIFACTS_DIR, with its own checksum.
    reference_path = models.CharField(max_length=500, blank=True)
    reference_sha256 = models.CharField(max_length=64, blank=True)
    # Set when a load found files that do not match their checksums; never served then.
    integrity_error = models.TextField(blank=True)
    description = models.TextField(blank=True)
    # The last export to the Hugging Face Hub (registry.services.hub).
    hub_repo_id = models.CharField(max_length=200, blank=True)
    hub_commit = models.CharField(max_length=64, blank=True)
    hub_url = models.URLField(max_length=500, blank=True)
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
        indexes = [models.Index(fields=["registered_model", "stage"])]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version}"

    @property
    def artifact_dir(self):
        return settings.ARTIFACTS_DIR / self.artifact_path

    @property
    def derived_dir(self):
        """Where cards, reports and exports of this version go: beside the artifacts, never in
        them (`registry.services.model_version_derived_write`)."""
        return settings.DERIVED_DIR / (
            self.artifact_path or f"{self.registered_model.name}/v{self.version}"
        )

    @property
    def reference_file(self):
        return settings.ARTIFACTS_DIR / self.reference_path if self.reference_path else None

    @property
    def expected_checksums(self) -> dict[str, str]:
        return {name: info["sha256"] for name, info in self.artifact_files.items()}

    @property
    def is_corrupt(self) -> bool:
        return bool(self.integrity_error)

    @property
    def class_labels(self) -> list[str]:
        return list(self.signature.get("class_labels", []))

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.signature.get("features", [])]


class StageTransition(models.Model):
    """The audit trail: every stage change of a version, with who or what did it and why."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="transitions"
    )
    from_stage = models.CharField(max_length=16, choices=ModelVersion.Stage.choices)
    to_stage = models.CharField(max_length=16, choices=ModelVersion.Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # "system" for automatic transitions, else the username at the time.
    actor_label = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_version}: {self.from_stage} -> {self.to_stage}"


class HubExport(Job):
    """One export of a version to a Hugging Face Hub repository, run by a worker
    (registry.services.hub): its progress, and the commit and URL once it succeeded."""

    Status = UncancellableJobStatus

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="hub_exports"
    )
    repo_id = models.CharField(max_length=200)
    private = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.CharField(max_length=200, blank=True)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    commit_sha = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export of {self.model_version} to {self.repo_id}"


class HubToken(models.Model):
    """A user's own Hugging Face token, encrypted with a key derived from SECRET_KEY; never
    shown again once stored."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hub_token"
    )
    encrypted = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Hub token of {self.user}"
