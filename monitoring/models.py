from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.models import Job, UncancellableJobStatus


class WorkerProbe(models.Model):
    """An end-to-end check of the task path: a service enqueues, a worker writes the answer.

    A control-channel ping says a worker process is up; a probe that comes back DONE says the
    queue, the worker and its database connection all work.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        DONE = "done", "Done"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"probe {self.pk} ({self.status})"

    @property
    def round_trip_seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.requested_at).total_seconds()


class DriftMonitor(models.Model):
    """How one model's live traffic is watched: schedule, window, engine, thresholds, and the
    retraining policy. One per model; created with defaults when a model first gets a
    production version (monitoring.services.drift_monitor_ensure). Its schedule is a
    django-celery-beat PeriodicTask that `drift_monitor_save` keeps in sync."""

    class Engine(models.TextChoices):
        BUILTIN = "builtin", "Built-in (scipy)"
        EVIDENTLY = "evidently", "Evidently"
        ALIBI = "alibi", "alibi-detect"

    class Window(models.TextChoices):
        ROWS = "rows", "Last N predictions"
        HOURS = "hours", "Last T hours"

    class Schedule(models.TextChoices):
        INTERVAL = "interval", "Every N minutes"
        CRONTAB = "crontab", "Crontab"

    class Rule(models.TextChoices):
        SHARE = "share", "Share of drifted features"
        WEIGHTED = "weighted", "Importance-weighted share"
        EITHER = "either", "Either share"

    registered_model = models.OneToOneField(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="drift_monitor"
    )
    enabled = models.BooleanField(default=True)
    schedule = models.CharField(max_length=8, choices=Schedule.choices, default=Schedule.INTERVAL)
    interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 31)]
    )
    crontab = models.CharField(
        max_length=100,
        blank=True,
        help_text='Five fields, "minute hour day-of-month month day-of-week", e.g. "0 3 * * *".',
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    window = models.CharField(max_length=8, choices=Window.choices, default=Window.ROWS)
    window_rows = models.PositiveIntegerField(
        default=5000, validators=[MinValueValidator(10), MaxValueValidator(1_000_000)]
    )
    window_hours = models.PositiveIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(24 * 90)]
    )
    min_sample = models.PositiveIntegerField(
        default=1000,
        validators=[MinValueValidator(10)],
        help_text="Fewer current rows than this end the check as insufficient data.",
    )
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.BUILTIN)
    fdr_q = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)]
    )
    numeric_effect_floor = models.FloatField(default=0.1, validators=[MinValueValidator(0.0)])
    categorical_effect_floor = models.FloatField(default=0.1, validators=[MinValueValidator(0.0)])
    dataset_rule = models.CharField(max_length=8, choices=Rule.choices, default=Rule.EITHER)
    dataset_threshold = models.FloatField(
        default=0.1, validators=[MinValueValidator(0.01), MaxValueValidator(1.0)]
    )
    performance_alpha = models.FloatField(
        default=0.01,
        validators=[MinValueValidator(0.0001), MaxValueValidator(0.2)],
        help_text="Significance of the one-sided tests for a drop in live accuracy or a rise "
        "in log loss against the test set.",
    )
    retrain_enabled = models.BooleanField(default=False)
    retrain_cooldown_hours = models.PositiveIntegerField(default=24)
    retrain_min_labelled = models.PositiveIntegerField(default=200)
    # Retrain on a calendar too, drift or not (0: only on drift, a drop or by hand).
    retrain_every_days = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(365)])

    class AfterRetraining(models.TextChoices):
        STAGE = "stage", "Stage the challenger (a person decides)"
        AB_TEST = "ab_test", "Start an A/B test (split traffic)"
        SHADOW_TEST = "shadow_test", "Start a shadow test"

    # What happens to a retraining's challenger once it is in staging: with a test, the loop
    # drift -> retrain -> test -> decision -> promotion runs with no person involved.
    after_retraining = models.CharField(
        max_length=16, choices=AfterRetraining.choices, default=AfterRetraining.STAGE
    )
    retrain_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What a person may change (page, API, admin): every setting except the model itself.
    EDITABLE = (
        "enabled",
        "schedule",
        "interval_minutes",
        "crontab",
        "window",
        "window_rows",
        "window_hours",
        "min_sample",
        "engine",
        "fdr_q",
        "numeric_effect_floor",
        "categorical_effect_floor",
        "dataset_rule",
        "dataset_threshold",
        "performance_alpha",
        "retrain_enabled",
        "retrain_cooldown_hours",
        "retrain_min_labelled",
        "retrain_every_days",
        "after_retraining",
    )

    class Meta:
        ordering = ["registered_model__name"]

    def __str__(self) -> str:
        return f"drift monitor of {self.registered_model.name}"

    @property
    def schedule_text(self) -> str:
        if self.schedule == self.Schedule.CRONTAB:
            return f"crontab {self.crontab}"
        return f"every {self.interval_minutes} min"


class DriftCheck(Job):
    """One comparison of a version's reference sample with a current window (or an uploaded
    CSV): per-feature results in `features`, the dataset verdict, and how it ran."""

    class Verdict(models.TextChoices):
        DRIFT = "drift", "Drift"
        NO_DRIFT = "no_drift", "No drift"
        INSUFFICIENT = "insufficient_data", "Insufficient data"

    class Source(models.TextChoices):
        WINDOW = "window", "Prediction-log window"
        UPLOAD = "upload", "Uploaded CSV"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"

    Status = UncancellableJobStatus  # a check is short: it cannot be cancelled

    monitor = models.ForeignKey(DriftMonitor, on_delete=models.CASCADE, related_name="checks")
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="drift_checks"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WINDOW)
    engine = models.CharField(max_length=16, choices=DriftMonitor.Engine.choices)
    # The settings the check ran with (a monitor edited later does not rewrite history).
    config = models.JSONField(default=dict)
    upload_path = models.CharField(max_length=500, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    n_reference = models.PositiveIntegerField(null=True, blank=True)
    n_current = models.PositiveIntegerField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=24, choices=Verdict.choices, blank=True)
    drift_share = models.FloatField(null=True, blank=True)
    weighted_drift_share = models.FloatField(null=True, blank=True)
    # [{name, kind, test, statistic, p_value, q_value, effect, effect_name, missing_reference,
    #   missing_current, importance, drifted, histogram}], in signature order.
    features = models.JSONField(default=list, blank=True)
    # engine.performance's report on the window: live vs test accuracy and log loss (once
    # labels exist), and the accuracy estimated from the served probabilities.
    performance = models.JSONField(default=dict, blank=True)
    performance_drop = models.BooleanField(default=False)
    # Why a check that called for retraining did not start one (policy off is not noted).
    retraining_note = models.CharField(max_length=500, blank=True)
    # Evidently's HTML report of the check (engine "evidently" only).
    report_path = models.CharField(max_length=500, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["monitor", "-created_at"], name="driftcheck_recent")]

    def __str__(self) -> str:
        return f"drift check {self.pk} of {self.model_version}"

    @property
    def drifted_features(self) -> list[str]:
        return [f["name"] for f in self.features if f.get("drifted")]


class Retraining(models.Model):
    """A new version trained because a model drifted (or because someone asked): the derived
    dataset (production's training data plus recent labelled predictions), the training job,
    and, once it finished, champion against challenger on held-out recent rows. The challenger
    enters `staging`, never production by itself."""

    class Trigger(models.TextChoices):
        DRIFT = "drift", "Drift"
        PERFORMANCE = "performance", "Performance drop"
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        STAGED = "staged", "Challenger in staging"
        FAILED = "failed", "Failed"

    monitor = models.ForeignKey(DriftMonitor, on_delete=models.CASCADE, related_name="retrainings")
    drift_check = models.OneToOneField(
        DriftCheck, null=True, blank=True, on_delete=models.SET_NULL, related_name="retraining"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    error = models.TextField(blank=True)
    champion = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="retrainings_as_champion"
    )
    dataset = models.ForeignKey("registry.Dataset", on_delete=models.PROTECT, related_name="+")
    training_job = models.OneToOneField(
        "training.TrainingJob", on_delete=models.CASCADE, related_name="retraining"
    )
    challenger = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retrainings_as_challenger",
    )
    # The newest labelled rows kept out of training, to compare the two models on.
    # The A/B test the monitor's policy started for the challenger (the loop's next step).
    ab_test = models.ForeignKey(
        "abtests.ABTest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Why the policy's test did not start, when it did not.
    ab_test_note = models.CharField(max_length=500, blank=True)
    holdout_path = models.CharField(max_length=500)
    n_parent_rows = models.PositiveIntegerField()
    n_window_rows = models.PositiveIntegerField()
    n_holdout_rows = models.PositiveIntegerField()
    # engine.comparison.compare_models on the held-out rows.
    comparison = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"retraining {self.pk} of {self.champion}"


class PerformanceSnapshot(models.Model):
    """How one version served during one interval (a minute by default), written by Beat from
    the prediction log and the tallies (monitoring.services.performance). An interval with no
    traffic still gets its row for production versions (zeros), so charts show gaps as gaps.
    Kept when retention deletes the log rows it was computed from."""

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="performance"
    )
    interval_start = models.DateTimeField()
    interval_seconds = models.PositiveIntegerField()
    # Requests: the log's rows of one request share their created_at, so distinct timestamps.
    requests = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    errors_by_reason = models.JSONField(default=dict, blank=True)
    # Request latency in milliseconds over the interval's requests.
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    latency_p99_ms = models.FloatField(null=True, blank=True)
    rows_per_second = models.FloatField(default=0.0)
    # The interval's rows labelled by the time it was written, and how many were right.
    labelled = models.PositiveIntegerField(default=0)
    correct = models.PositiveIntegerField(default=0)
    # The version's live accuracy over all its labelled predictions so far (its tallies).
    live_accuracy = models.FloatField(null=True, blank=True)
    # Confidence-based: the mean probability of the predicted class (calibrated), no labels.
    estimated_accuracy = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["interval_start", "model_version_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "interval_start"], name="perfsnap_one_per_interval"
            )
        ]
        indexes = [
            models.Index(fields=["registered_model", "interval_start"], name="perfsnap_model_time")
        ]

    def __str__(self) -> str:
        return f"{self.model_version} at {self.interval_start:%Y-%m-%d %H:%M}"

    @property
    def error_rate(self) -> float | None:
        attempts = self.requests + self.errors
        return self.errors / attempts if attempts else None


class Event(models.Model):
    """Something that happened (core.events.KINDS), announced by the app where it happened:
    the feed on the dashboard and the model pages, and what webhooks deliver."""

    kind = models.CharField(max_length=40, db_index=True)
    model_name = models.CharField(max_length=100, blank=True, db_index=True)
    version = models.PositiveIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary}"

    def payload(self) -> dict:
        """The JSON a webhook receives."""
        return {
            "id": self.pk,
            "kind": self.kind,
            "model": self.model_name or None,
            "version": self.version,
            "summary": self.summary,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
        }


class Webhook(models.Model):
    """A URL that receives the events of the kinds it names (all kinds when none), each as
    a signed POST from a worker (monitoring.services.webhooks)."""

    url = models.URLField(max_length=500)
    # Event kinds to deliver; empty: every kind.
    kinds = models.JSONField(default=list, blank=True)
    # Signs each delivery (HMAC-SHA256); shown once, when the webhook is created.
    secret = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, kind: str) -> bool:
        return self.active and (not self.kinds or kind in self.kinds)


class WebhookDelivery(models.Model):
    """One event to one webhook: every attempt's outcome, retried with backoff until it is
    answered 2xx or WEBHOOK_MAX_ATTEMPTS are spent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class CostRate(models.Model):
    """A price per unit of a resource, from `effective_from` on (the newest one in effect
    prices a cost when it is recorded). With no row, settings' COST_CPU_HOUR and
    COST_GB_MONTH apply. Edited in the admin."""

    class Resource(models.TextChoices):
        CPU_HOUR = "cpu_hour", "CPU-hour"
        GB_MONTH = "gb_month", "GB-month of storage"

    resource = models.CharField(max_length=16, choices=Resource.choices)
    unit_price = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resource", "-effective_from"]

    def __str__(self) -> str:
        return f"{self.unit_price} {self.currency} per {self.get_resource_display()}"


class CostRecord(models.Model):
    """What one piece of work cost (core.costs): CPU seconds measured where it ran, or bytes
    held for a day, priced at the rate in effect. Model and version are names and numbers,
    not keys, so a record outlives what it priced. Kept by retention."""

    kind = models.CharField(max_length=16, db_index=True)
    # Idempotence: "training:job:12", "inference:v5:2026-12-04T07:00", "storage:...:2026-12-04".
    key = models.CharField(max_length=200, unique=True)
    model_name = models.CharField(max_length=100, blank=True, db_index=True)
    version = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=200, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField()
    cpu_seconds = models.FloatField(default=0.0)
    bytes = models.BigIntegerField(default=0)
    predictions = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    currency = models.CharField(max_length=3, default="USD")
    unit_price = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["model_name", "started_at"], name="cost_model_time")]

    def __str__(self) -> str:
        return f"{self.kind} {self.source or self.key}: {self.amount} {self.currency}"
