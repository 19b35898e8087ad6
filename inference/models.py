from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import Job, UncancellableJobStatus
from inference.ids import new_prediction_id


class PredictionLog(models.Model):
    """One served row: what came in, what went out, and (later) what was true.

    Written by inference.services.prediction_log: API rows by each web process's buffered writer
    (one COPY per flush interval), the rest one bulk write per request. Ground truth
    arrives through the feedback endpoints and fills `label`; drift checks read recent
    windows per model and version.
    """

    class Source(models.TextChoices):
        REST = "rest", "REST API"
        V2 = "v2", "Open Inference Protocol"
        PAGE = "page", "Predict page"
        BATCH = "batch", "Batch scoring"

    # UUIDv7 (inference.ids): time-ordered, so inserts append to the primary-key index.
    id = models.UUIDField(primary_key=True, default=new_prediction_id, editable=False)
    # No single-column indexes: the composite ones below lead with these columns, and every
    # index is paid for on each prediction's insert. No database-level constraints either:
    # each one cost a lookup and a key-share lock on the version row per logged row
    # (inference.services.prediction_log); deleting a model or version still deletes its
    # log rows through on_delete.
    registered_model = models.ForeignKey(
        "registry.RegisteredModel",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.CASCADE,
        related_name="predictions",
        db_index=False,
        db_constraint=False,
    )
    # Filled when an A/B test routed the request (the abtests app owns the test rows).
    ab_test_id = models.BigIntegerField(null=True, blank=True)
    arm = models.CharField(max_length=32, blank=True)
    # A shadow row (an A/B test in shadow mode): the challenger's answer for the row whose id
    # this is, logged and never returned. Feedback on that row labels this one too.
    shadow_of = models.UUIDField(null=True, blank=True)
    # sha256 of the caller's unit id (keyed with SECRET_KEY): sticky, but not the raw id.
    unit_hash = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.REST)
    # The caller's request id (V2 `id`, batch job id), to find a request's rows again.
    request_id = models.CharField(max_length=100, blank=True)
    features = models.JSONField()
    prediction = models.CharField(max_length=200)
    probabilities = models.JSONField()
    # Features whose value was a category training never saw (served, and counted).
    unknown_categories = models.JSONField(default=list, blank=True)
    # Wall time of the whole request in milliseconds (every row of a request shares it).
    latency_ms = models.FloatField()
    created_at = models.DateTimeField(db_index=False)
    label = models.CharField(max_length=200, null=True, blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)
    is_correct = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["registered_model", "-created_at"], name="predlog_model_recent"),
            models.Index(fields=["model_version", "-created_at"], name="predlog_version_recent"),
            models.Index(
                fields=["model_version", "labelled_at"],
                condition=Q(label__isnull=False),
                name="predlog_version_labelled",
            ),
            # An arm's newest rows (the latency guardrail reads its recent p95 here).
            models.Index(
                fields=["ab_test_id", "arm", "-created_at"],
                condition=Q(ab_test_id__isnull=False),
                name="predlog_abtest_arm_recent",
            ),
            models.Index(
                fields=["shadow_of"], condition=Q(shadow_of__isnull=False), name="predlog_shadow"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} → {self.prediction}"


class BatchScoringJob(Job):
    """A CSV scored against a model version by a Celery worker; the output is a CSV."""

    # A batch job has no cancel_requested flag.
    Status = UncancellableJobStatus

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="batch_jobs"
    )
    # Resolved when the job is created, so the whole file is scored by one version.
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="batch_jobs"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    original_filename = models.CharField(max_length=255, blank=True)
    # Relative to settings.DATA_DIR.
    input_path = models.CharField(max_length=500)
    output_path = models.CharField(max_length=500, blank=True)
    input_bytes = models.BigIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Batch scoring #{self.pk} ({self.registered_model.name})"

    @property
    def progress(self) -> float:
        if not self.rows_total:
            return 1.0 if self.is_finished else 0.0
        return min(1.0, self.rows_done / self.rows_total)

    @property
    def input_file(self):
        return settings.DATA_DIR / self.input_path

    @property
    def output_file(self):
        return settings.DATA_DIR / self.output_path if self.output_path else None


class PredictionTally(models.Model):
    """Running counts of a version's traffic, kept by the write path, per A/B test arm.

    The prediction log's writers add each request's rows in the same transaction as the rows
    (`inference.services.prediction_log`), and the feedback service adds labels as it writes
    them, so /metrics, the pages and an A/B evaluation read a handful of rows here instead of
    aggregating millions of logged ones. Traffic outside any test is test 0, arm "". The
    tests themselves belong to the abtests app; inference knows only their ids.
    """

    ab_test_id = models.BigIntegerField()
    arm = models.CharField(max_length=32)
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    requests = models.BigIntegerField(default=0)
    predictions = models.BigIntegerField(default=0)
    # Distinct units first seen in this arm (a request without a unit id is its own unit).
    units = models.BigIntegerField(default=0)
    # Requests that failed after the arm was chosen (invalid rows, a version that cannot load).
    errors = models.BigIntegerField(default=0)
    labelled = models.BigIntegerField(default=0)
    correct = models.BigIntegerField(default=0)
    # Shadow tests, on the challenger's row: labelled pairs (the same row answered by both
    # versions) and the discordant ones, which alone carry the paired test's information.
    pairs = models.BigIntegerField(default=0)
    pairs_champion_only = models.BigIntegerField(default=0)
    pairs_challenger_only = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ab_test_id", "arm", "model_version"], name="predictiontally_unique"
            )
        ]

    def __str__(self) -> str:
        return f"test {self.ab_test_id} {self.arm}: {self.labelled} labelled"


class ErrorTally(models.Model):
    """Failed prediction requests per version, reason and minute (invalid rows, a version
    that cannot load), added by the write path like the tallies; the performance snapshots
    read their intervals here, since a failed request leaves no row in the log."""

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    reason = models.CharField(max_length=40)
    minute = models.DateTimeField()
    errors = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "minute", "reason"], name="errortally_unique"
            )
        ]


class UsageTally(models.Model):
    """Per version and minute: the prediction requests (API and page) served, their rows, and
    the CPU time the serving threads spent on them (microseconds of `time.thread_time()`,
    from the request's arrival to its log rows being handed over; core.costs). Added by the
    write path like the tallies; monitoring prices each closed interval as an inference
    CostRecord."""

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    minute = models.DateTimeField()
    requests = models.BigIntegerField(default=0)
    predictions = models.BigIntegerField(default=0)
    cpu_us = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "minute"], name="usagetally_unique")
        ]


class UnitExposure(models.Model):
    """A unit's first request in an A/B test: distinct units per arm for the sample-ratio
    check. Only the keyed hash of the unit id is kept."""

    ab_test_id = models.BigIntegerField()
    unit_hash = models.CharField(max_length=64)
    arm = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ab_test_id", "unit_hash"], name="unitexposure_unique")
        ]
