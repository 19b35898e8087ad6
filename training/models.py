from django.conf import settings
from django.db import models

from core.models import Job, JobStatus


class TrainingJob(Job):
    Status = JobStatus

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        DRIFT = "drift", "Drift"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    # Deleting a dataset takes its jobs along; a version trained on it protects it instead.
    dataset = models.ForeignKey(
        "registry.Dataset", on_delete=models.CASCADE, related_name="training_jobs"
    )
    model_name = models.SlugField(max_length=100)
    # The search configuration as the user asked for it (with defaults filled in).
    config = models.JSONField(default=dict)
    n_trials = models.PositiveIntegerField()
    trials_done = models.PositiveIntegerField(default=0)
    trials_pruned = models.PositiveIntegerField(default=0)
    trials_failed = models.PositiveIntegerField(default=0)
    best_value = models.FloatField(null=True, blank=True)
    parallelism = models.PositiveSmallIntegerField(default=1)
    # Extra trial workers of a parallel job that claimed a slot (redeliveries find none left).
    helpers_started = models.PositiveSmallIntegerField(default=0)
    study_name = models.CharField(max_length=100, blank=True)
    cancel_requested = models.BooleanField(default=False)
    cpu_seconds = models.FloatField(default=0.0)
    worker = models.CharField(max_length=255, blank=True)
    result_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"training job {self.pk} ({self.model_name}, {self.status})"

    @property
    def trials_finished(self) -> int:
        return self.trials_done + self.trials_pruned + self.trials_failed

    @property
    def progress_share(self) -> float:
        return min(1.0, self.trials_finished / self.n_trials) if self.n_trials else 0.0


class Trial(models.Model):
    class State(models.TextChoices):
        COMPLETE = "complete", "Complete"
        PRUNED = "pruned", "Pruned"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField()
    family = models.CharField(max_length=32)
    imbalance = models.CharField(max_length=32, blank=True)
    params = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices)
    value = models.FloatField(null=True, blank=True)
    duration_s = models.FloatField(default=0.0)
    # The process CPU time the trial used, measured in the worker that ran it.
    cpu_seconds = models.FloatField(default=0.0)
    # Per-epoch validation loss (the MLP's learning curve; one point for the others).
    curve = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="unique_trial_number_per_job")
        ]

    def __str__(self) -> str:
        return f"trial {self.number} of job {self.job_id}"
