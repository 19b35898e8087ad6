"""Abstract models the apps build on. Nothing concrete lives here, so `core` owns no table and
no migration."""

from django.db import models


class JobStatus(models.TextChoices):
    """The life of a job row (see core.jobs). A kind that cannot be cancelled may offer the
    other four values only; the runner never writes CANCELLED for it."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class UncancellableJobStatus(models.TextChoices):
    """JobStatus without CANCELLED, for kinds that have no cancel flag (batch scoring, drift
    checks): their pages and filters never offer a status the runner cannot write."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """The fields the job runner (core.jobs) reads and writes on work a worker claims and a
    person watches.

    A concrete job adds its own `status` CharField with JobStatus values (its choices are its
    own, so a kind that cannot be cancelled does not offer "Cancelled"), and optionally
    `cancel_requested` (the kind becomes cancellable) and `worker` (the claim records the
    worker's hostname).
    """

    FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

    # Why the job ended other than as asked: the failure, the cancellation, the lost worker.
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written while the job runs; the stale sweep fails RUNNING rows whose heartbeat is old.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
