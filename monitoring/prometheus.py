"""What /metrics exposes: the counters of every web process plus values read from the database.

Counters and histograms (django-prometheus's `django_http_*`, `inference.metrics`'s
`modelyard_*`) live in the process that counted them. Under gunicorn, prometheus_client's
multiprocess mode keeps them in files in PROMETHEUS_MULTIPROC_DIR (see gunicorn.conf.py) and a
scrape sums the files of all workers; elsewhere (runserver, tests) the process's own default
registry is the whole truth.

Live accuracy and production versions are rows in the database, the same for every process, so
they are read at scrape time instead of being kept in per-process gauges that would disagree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Max
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from abtests.selectors import abtest_latest_snapshots
from inference.selectors import live_accuracy_list
from monitoring.models import DriftCheck
from monitoring.selectors import beat_last_tick, cost_totals, event_counts, queue_depths
from registry.selectors import Stage, model_version_serving_rows
from training.selectors import training_job_durations, training_job_status_counts

logger = logging.getLogger(__name__)


class DefaultRegistryCollector:
    """The process's default registry, as one collector of a per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class DatabaseCollector:
    """Per scrape: live accuracy of every version that is not archived, and the production
    version of every model. A database error leaves them out and sets
    `modelyard_metrics_database_up` to 0, so the process metrics are still served."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "modelyard_metrics_database_up",
            "1 when this scrape could read the database-backed metrics, else 0.",
        )
        try:
            families = self._families()
        except DatabaseError:
            logger.exception("Database-backed metrics are left out of this scrape")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> list[Metric]:
        accuracy = GaugeMetricFamily(
            "modelyard_live_accuracy",
            "Share of labelled predictions that were right, per model and version "
            "(versions with at least one label).",
            labels=["model", "version"],
        )
        labelled = GaugeMetricFamily(
            "modelyard_labelled_predictions",
            "Logged predictions whose true label has been recorded, per model and version.",
            labels=["model", "version"],
        )
        logged = GaugeMetricFamily(
            "modelyard_logged_predictions",
            "Predictions in the prediction log, per model and version.",
            labels=["model", "version"],
        )
        production = GaugeMetricFamily(
            "modelyard_production_version",
            "The version number serving each model's production stage.",
            labels=["model"],
        )
        # Archived versions no longer serve; leaving them out bounds both the series count and
        # the prediction-log rows this scrape aggregates.
        versions = model_version_serving_rows()
        stats = live_accuracy_list(version_ids=[pk for pk, _, _, _ in versions])
        for pk, model, number, stage in versions:
            if stage == Stage.PRODUCTION:
                production.add_metric([model], number)
            live = stats.get(pk)
            if live is None:
                continue
            labels = [model, str(number)]
            logged.add_metric(labels, live.predictions)
            labelled.add_metric(labels, live.labelled)
            if live.accuracy is not None:
                accuracy.add_metric(labels, live.accuracy)
        return [
            accuracy,
            labelled,
            logged,
            production,
            *self._drift(),
            *self._abtests(),
            *self._jobs_and_events(),
            *self._queues(),
            *self._costs(),
        ]

    def _costs(self) -> list[Metric]:
        """Costs on record (core.costs): CPU seconds and amounts per kind and model."""
        cpu = CounterMetricFamily(
            "modelyard_cost_cpu_seconds",
            "CPU seconds measured for the platform's work, per kind and model (training, "
            "drift_check, ab_evaluation, batch_scoring, inference).",
            labels=["kind", "model"],
        )
        amount = CounterMetricFamily(
            "modelyard_cost",
            "What the platform's work cost, priced at the rates in effect, per kind, model "
            "and currency (storage included).",
            labels=["kind", "model", "currency"],
        )
        for row in cost_totals():
            model = row["model_name"] or "none"
            if row["kind"] != "storage":
                cpu.add_metric([row["kind"], model], row["cpu_seconds"] or 0.0)
            amount.add_metric([row["kind"], model, row["currency"]], float(row["amount"] or 0))
        return [cpu, amount]

    def _jobs_and_events(self) -> list[Metric]:
        """Training jobs by status and the durations of the finished ones; events by kind."""
        jobs = GaugeMetricFamily(
            "modelyard_training_jobs", "Training jobs by status.", labels=["status"]
        )
        for status, n in training_job_status_counts().items():
            jobs.add_metric([status], n)
        count, total = training_job_durations()
        durations = SummaryMetricFamily(
            "modelyard_training_job_duration_seconds",
            "Wall time of finished training jobs, from claim to finish.",
            count_value=count,
            sum_value=total,
        )
        events = CounterMetricFamily(
            "modelyard_events", "Events recorded, by kind (core.events).", labels=["kind"]
        )
        for kind, n in event_counts().items():
            events.add_metric([kind], n)
        return [jobs, durations, events]

    def _queues(self) -> list[Metric]:
        """Messages waiting in each Celery queue, read from the broker (absent when the
        broker does not answer)."""
        depth = GaugeMetricFamily(
            "modelyard_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        for queue, n in queue_depths().items():
            depth.add_metric([queue], n)
        beat = GaugeMetricFamily(
            "modelyard_beat_heartbeat_age_seconds",
            "Seconds since Celery Beat last sent its heartbeat task (absent before the first).",
        )
        tick = beat_last_tick()
        if tick is not None:
            beat.add_metric([], (timezone.now() - tick).total_seconds())
        return [depth, beat]

    def _abtests(self) -> list[Metric]:
        """The latest evaluation of every running A/B test (and promotion under watch)."""
        labelled = GaugeMetricFamily(
            "modelyard_abtest_labelled",
            "Labelled predictions per arm of a running A/B test, at its latest evaluation.",
            labels=["test", "arm"],
        )
        accuracy = GaugeMetricFamily(
            "modelyard_abtest_accuracy",
            "Accuracy of labelled predictions per arm of a running A/B test.",
            labels=["test", "arm"],
        )
        p_value = GaugeMetricFamily(
            "modelyard_abtest_p_value",
            "Always-valid p-value (mSPRT) of the difference in accuracy of a running test.",
            labels=["test"],
        )
        prob_better = GaugeMetricFamily(
            "modelyard_abtest_prob_better",
            "Posterior probability (Beta-Binomial) that the challenger is more accurate.",
            labels=["test"],
        )
        srm = GaugeMetricFamily(
            "modelyard_abtest_srm_p_value",
            "Sample-ratio-mismatch chi-square p-value of a running split test (below 0.001 "
            "blocks every decision).",
            labels=["test"],
        )
        for test_id, snapshot in abtest_latest_snapshots():
            test = str(test_id)
            for arm, figures in snapshot.arms.items():
                labelled.add_metric([test, arm], figures.get("labelled", 0))
                if figures.get("accuracy") is not None:
                    accuracy.add_metric([test, arm], figures["accuracy"])
            if snapshot.p_value is not None:
                p_value.add_metric([test], snapshot.p_value)
            if snapshot.prob_better is not None:
                prob_better.add_metric([test], snapshot.prob_better)
            if snapshot.srm_p_value is not None:
                srm.add_metric([test], snapshot.srm_p_value)
        return [labelled, accuracy, p_value, prob_better, srm]

    def _drift(self) -> list[Metric]:
        """The latest finished drift check of every model's monitor."""
        share = GaugeMetricFamily(
            "modelyard_drift_share",
            "Share of features drifted in the model's latest drift check.",
            labels=["model"],
        )
        weighted = GaugeMetricFamily(
            "modelyard_drift_weighted_share",
            "Importance-weighted share of drifted features in the latest drift check.",
            labels=["model"],
        )
        detected = GaugeMetricFamily(
            "modelyard_drift_detected",
            "1 when the model's latest drift check found drift, else 0.",
            labels=["model"],
        )
        estimated = GaugeMetricFamily(
            "modelyard_estimated_accuracy",
            "Accuracy estimated from the served probabilities of the model's latest checked "
            "window (confidence-based, no labels needed).",
            labels=["model"],
        )
        dropped = GaugeMetricFamily(
            "modelyard_performance_drop",
            "1 when the latest check found live accuracy or log loss significantly worse "
            "than the test set's, else 0.",
            labels=["model"],
        )
        feature = GaugeMetricFamily(
            "modelyard_feature_drift",
            "Effect size of each feature in the model's latest drift check (normalised "
            "Wasserstein for numeric features, Jensen-Shannon or PSI for categorical ones).",
            labels=["model", "feature"],
        )
        finished = DriftCheck.objects.filter(status=DriftCheck.Status.SUCCEEDED)
        # One row per monitor: its newest finished check (ids grow with time).
        newest = finished.values("monitor_id").annotate(last=Max("id")).values("last")
        for check in DriftCheck.objects.filter(pk__in=newest).select_related(
            "monitor__registered_model"
        ):
            model = check.monitor.registered_model.name
            if (check.performance or {}).get("estimated_accuracy") is not None:
                estimated.add_metric([model], check.performance["estimated_accuracy"])
                dropped.add_metric([model], 1 if check.performance_drop else 0)
            if check.drift_share is None:
                continue  # insufficient data for the feature tests
            share.add_metric([model], check.drift_share)
            weighted.add_metric([model], check.weighted_drift_share or 0.0)
            detected.add_metric([model], 1 if check.verdict == DriftCheck.Verdict.DRIFT else 0)
            for row in check.features:
                feature.add_metric([model, row["name"]], row["effect"])
        return [share, weighted, detected, feature, estimated, dropped]


def scrape_registry() -> CollectorRegistry:
    """A registry for one scrape: all workers' files in multiprocess mode, else this process's
    default registry; plus the database collector."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(DefaultRegistryCollector())
    registry.register(DatabaseCollector())
    return registry


def metrics_exposition(accept: str) -> tuple[bytes, str]:
    """Everything above as (body, content type), in the format the scraper's Accept header asks
    for (OpenMetrics or a version of the text format), as prometheus_client's own server does."""
    encode, content_type = choose_encoder(accept)
    return encode(scrape_registry()), content_type
