from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class ABTest(models.Model):
    """A live comparison of a model's production version (champion) with another of its
    versions (challenger), decided on ground truth: the accuracy of labelled predictions.

    Split: each unit (the caller's `unit_id`, or the request) is served by one arm, picked by
    a keyed hash of (test, unit). Shadow: the champion answers every request and the
    challenger scores the same rows, logged and never returned, so every labelled row is a
    pair. `abtests.services` starts, evaluates, decides, promotes and rolls back.
    """

    class Mode(models.TextChoices):
        SPLIT = "split", "Split traffic"
        SHADOW = "shadow", "Shadow"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"
        DECIDED = "decided", "Decided"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Outcome(models.TextChoices):
        NONE = "", "—"
        CHALLENGER_BETTER = "challenger_better", "Challenger better"
        CHAMPION_BETTER = "champion_better", "Champion better"
        NO_DIFFERENCE = "no_difference", "No difference found"
        GUARDRAIL = "guardrail", "Challenger broke a guardrail"
        STOPPED = "stopped", "Stopped"

    class Origin(models.TextChoices):
        MANUAL = "manual", "Started by a person"
        RETRAINING = "retraining", "Started by a retraining"

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="ab_tests"
    )
    champion = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="+"
    )
    challenger = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="+"
    )
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.SPLIT)
    challenger_share = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.01), MaxValueValidator(0.99)],
        help_text="Share of units the challenger serves (split mode).",
    )
    alpha = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.001), MaxValueValidator(0.2)],
        help_text="Significance level of the always-valid test.",
    )
    mde = models.FloatField(
        default=0.02,
        validators=[MinValueValidator(0.001), MaxValueValidator(0.5)],
        help_text="Minimum detectable effect in accuracy (0.02 = 2 points); it sets the "
        "sequential test's prior and the sample-size estimate.",
    )
    min_labelled_per_arm = models.PositiveIntegerField(
        default=500,
        validators=[MinValueValidator(30)],
        help_text="Labelled predictions each arm needs before a decision (pairs in shadow mode).",
    )
    max_duration_hours = models.PositiveIntegerField(
        default=14 * 24,
        validators=[MinValueValidator(1)],
        help_text="Stop with 'no difference found' after this long.",
    )
    max_latency_increase = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0)],
        help_text="Guardrail: the challenger's p95 latency may exceed the champion's by this "
        "share (0.5 = 50 %).",
    )
    max_error_rate_increase = models.FloatField(
        default=0.01,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Guardrail: the challenger's error rate may exceed the champion's by this "
        "much (0.01 = 1 point).",
    )
    max_cost_increase = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="Guardrail (optional): the challenger's inference cost per 1,000 predictions "
        "(measured serving CPU time) may exceed the champion's by this share (0.2 = 20 %).",
    )
    auto_promote = models.BooleanField(
        default=True, help_text="Promote a challenger that wins, with the decision as evidence."
    )
    watch_hours = models.PositiveIntegerField(
        default=24,
        help_text="After a promotion, watch the new production version this long and roll "
        "back on a significant accuracy drop or a guardrail breach (0: no watch).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, default="")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.MANUAL)
    # The decision in one plain sentence (also on the decision record).
    summary = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    # Set on promotion: until then the new production version is watched (arm "watch").
    watch_until = models.DateTimeField(null=True, blank=True)
    watch_result = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model"],
                condition=Q(status="running"),
                name="abtest_one_running_per_model",
            ),
            models.CheckConstraint(
                condition=~Q(champion=models.F("challenger")), name="abtest_two_versions"
            ),
        ]

    def __str__(self) -> str:
        return f"A/B test {self.pk}: {self.registered_model.name}"

    @property
    def planned_shares(self) -> tuple[float, float]:
        """(champion, challenger) planned shares of units."""
        return 1.0 - self.challenger_share, self.challenger_share


class Snapshot(models.Model):
    """One evaluation: each arm's counts from the tallies, and the statistics on them.

    `phase` "test" while the test runs; "watch" after a promotion, comparing the new
    production version with the old champion's figures from the test.
    """

    class Phase(models.TextChoices):
        TEST = "test", "Test"
        WATCH = "watch", "Watch"

    test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="snapshots")
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.TEST)
    created_at = models.DateTimeField(auto_now_add=True)
    # {arm: {requests, predictions, units, errors, labelled, correct, accuracy, error_rate,
    #        p95_latency_ms, ...}}
    arms = models.JSONField(default=dict)
    difference = models.FloatField(null=True, blank=True)  # challenger - champion accuracy
    low = models.FloatField(null=True, blank=True)  # always-valid interval of the difference
    high = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)  # always-valid (running minimum)
    prob_better = models.FloatField(null=True, blank=True)
    srm_p_value = models.FloatField(null=True, blank=True)
    # Everything else: z-test, McNemar, expected losses, guardrails, what blocked a decision.
    stats = models.JSONField(default=dict)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["test", "phase", "-created_at"], name="absnap_recent")]


class Decision(models.Model):
    """What was decided about a test, on which numbers, by whom or what."""

    class Kind(models.TextChoices):
        DECIDED = "decided", "Decided"
        PROMOTED = "promoted", "Promoted"
        STOPPED = "stopped", "Stopped"
        ROLLED_BACK = "rolled_back", "Rolled back"
        WATCH_PASSED = "watch_passed", "Watch passed"

    test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    outcome = models.CharField(max_length=20, choices=ABTest.Outcome.choices, blank=True)
    snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.SET_NULL)
    sentence = models.TextField()
    evidence = models.JSONField(default=dict)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # "system" for automatic decisions, else the username at the time.
    actor_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.test}: {self.kind}"
