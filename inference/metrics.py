"""Prometheus metrics of the prediction path.

Counters and histograms only: they aggregate across gunicorn workers in prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, see gunicorn.conf.py). Values that live in the
database (live accuracy) are read at scrape time by `monitoring.prometheus`.
"""

from __future__ import annotations

import numpy as np
from prometheus_client import Counter, Histogram

# Sub-millisecond buckets: a single-row prediction takes about a millisecond end to end.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048
)  # fmt: skip

REQUESTS = Counter(
    "modelyard_prediction_requests_total",
    "Prediction requests served, per model, version and protocol.",
    ["model", "version", "protocol"],
)
LATENCY = Histogram(
    "modelyard_prediction_latency_seconds",
    "Time to validate, predict and log one prediction request.",
    ["model", "version", "protocol"],
    buckets=LATENCY_BUCKETS,
)
ROWS = Counter(
    "modelyard_predictions_total",
    "Rows predicted, per model, version and predicted class.",
    ["model", "version", "predicted_class"],
)
UNKNOWN_CATEGORIES = Counter(
    "modelyard_unknown_categories_total",
    "Values served that hold a category the version never saw in training.",
    ["model", "version", "feature"],
)
ERRORS = Counter(
    "modelyard_prediction_errors_total",
    "Prediction requests refused, per model and reason.",
    ["model", "reason"],
)


def record_served(target, protocol: str, scored, class_labels: list[str], seconds: float) -> None:
    model, version = target.model_name, str(target.version)
    REQUESTS.labels(model, version, protocol).inc()
    LATENCY.labels(model, version, protocol).observe(seconds)
    if len(scored.labels) == 1:
        ROWS.labels(model, version, scored.labels[0]).inc()
    else:
        index = {label: i for i, label in enumerate(class_labels)}
        counts = np.bincount([index[x] for x in scored.labels], minlength=len(class_labels))
        for label, count in zip(class_labels, counts.tolist(), strict=True):
            if count:
                ROWS.labels(model, version, label).inc(count)
    for features in scored.unknown:
        for feature in features:
            UNKNOWN_CATEGORIES.labels(model, version, feature).inc()


def record_error(model: str, reason: str) -> None:
    ERRORS.labels(model, reason).inc()
