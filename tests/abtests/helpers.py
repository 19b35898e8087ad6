"""A model with a champion and a challenger, and labelled traffic for chosen arms, written
through the real services (the prediction-log write path and the feedback service)."""

from __future__ import annotations

import hashlib

import numpy as np

from abtests.models import ABTest
from abtests.services import abtest_create, running_tests
from inference.models import PredictionLog
from inference.pipeline import Scored
from inference.services import feedback_record_bulk, new_prediction_ids, prediction_logs_write
from inference.serving.cache import model_cache
from tests.inference.models import feature_rows, register

LABELS = ["<=50K", ">50K"]


def champion_and_challenger():
    """adult v1 (logistic regression, production) and v2 (gradient boosting, candidate)."""
    model_cache.clear()
    running_tests.clear()
    v1 = register("logreg")
    v2 = register("hgb")
    v1.refresh_from_db()
    return v1, v2


def start_test(challenger, **options) -> ABTest:
    options.setdefault("min_labelled_per_arm", 100)
    test = abtest_create(challenger=challenger, **options)
    running_tests.clear()
    return test


def unit(i: int, prefix: str = "u") -> str:
    return hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()


def serve(
    test: ABTest,
    arm: str,
    *,
    requests: int,
    rows: int = 1,
    accuracy: float | None = None,
    latency_ms: float = 2.0,
    prefix: str = "",
) -> list[str]:
    """`requests` logged requests of `rows` rows each, served by `arm` of `test` (one unit
    per request), and, with `accuracy`, their labels: that share of rows right."""
    version = test.challenger if arm in ("challenger", "watch") else test.champion
    target = model_cache.resolve(test.registered_model.name, version=version.version)
    instances = feature_rows(rows)
    ids: list[str] = []
    for i in range(requests):
        batch = new_prediction_ids(rows)
        prediction_logs_write(
            target=target,
            ids=batch,
            instances=instances,
            scored=Scored(
                proba=np.tile([0.3, 0.7], (rows, 1)), labels=[">50K"] * rows, unknown=[[]] * rows
            ),
            class_labels=LABELS,
            unit_hash=unit(i, prefix or arm),
            source=PredictionLog.Source.REST,
            request_id="",
            latency_ms=latency_ms,
            ab_test_id=test.pk,
            arm=arm,
        )
        ids += batch
    if accuracy is not None:
        label(ids, accuracy)
    return ids


def label(ids: list[str], accuracy: float) -> None:
    """Label the rows (all predicted ">50K"): the first `accuracy` share right."""
    right = round(len(ids) * accuracy)
    items = [
        {"prediction_id": pid, "label": ">50K" if i < right else "<=50K"}
        for i, pid in enumerate(ids)
    ]
    outcomes = feedback_record_bulk(items=items)
    assert {o.status for o in outcomes} <= {"recorded", "unchanged"}
