"""Serving: validate, predict and log one request's rows."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from core.errors import Conflict
from inference import metrics
from inference.ids import new_prediction_ids
from inference.models import PredictionLog
from inference.pipeline import Scored
from inference.services.prediction_log import ShadowRows, prediction_logs_write, tallies_write
from inference.serving.cache import Target, model_cache
from inference.serving.routing import Route, route
from inference.serving.tally import TallyDelta
from inference.validation import RequestError

logger = logging.getLogger(__name__)


@dataclass
class Served:
    route: Route
    target: Target
    class_labels: list[str]
    ids: list[str]  # UUIDv7, one per row
    scored: Scored

    def rows(self) -> list[dict]:
        """Per row: id, label, probability per class (the REST answer's `predictions`)."""
        return [
            {
                "id": pid,
                "label": label,
                "probabilities": probs,
                **({"unknown_categories": unknown} if unknown else {}),
            }
            for pid, label, probs, unknown in zip(
                self.ids,
                self.scored.labels,
                self.scored.probability_dicts(self.class_labels),
                self.scored.unknown,
                strict=True,
            )
        ]


def predictions_serve(
    *,
    model_name: str,
    instances: list | None = None,
    columns: dict | None = None,
    n_rows: int | None = None,
    version: int | None = None,
    stage: str | None = None,
    unit_id=None,
    source: str = PredictionLog.Source.REST,
    request_id: str = "",
    started: float | None = None,
    cpu_started: float | None = None,
    chosen: Route | None = None,
) -> Served:
    """Validate, predict and log one request's rows (either `instances`, row objects, or
    `columns`, one list per feature with `n_rows` values).

    The version is `chosen`, a route the caller already took (V2 needs the version's inputs
    to decode its request), else `inference.serving.routing.route` decides from `version`,
    `stage` and the unit. Raises NotFound (unknown model or version), Conflict (corrupt
    version), RequestError (malformed rows; counted by reason). Every served row goes to
    the prediction log (`prediction_logs_write`) with the route's A/B test and arm: API rows
    through the process's buffered writer, page rows before this returns.

    With COST_INFERENCE_CPU, the serving thread's CPU time from `cpu_started` (the request's
    arrival; else this call) until its rows are handed over is charged to the version (a
    shadow version's own scoring to it), through the tallies (core.costs).
    """
    started = time.perf_counter() if started is None else started
    if cpu_started is None and settings.COST_INFERENCE_CPU:
        cpu_started = time.thread_time()
    if chosen is None:
        chosen = route(model_name, version=version, stage=stage, unit_id=unit_id, source=source)
    target = chosen.target
    buffered = source != PredictionLog.Source.PAGE
    try:
        serving = model_cache.get(target)
        scoring = time.perf_counter()
        if columns is not None:
            scored = serving.score_columns(columns, n_rows)
            instances = _rows_from_columns(columns, serving.feature_names, n_rows)
        else:
            scored = serving.score_rows(instances)
    except Exception as exc:
        reason = exc.reason if isinstance(exc, RequestError) else getattr(exc, "code", "error")
        if isinstance(exc, RequestError):
            metrics.record_error(model_name, exc.reason)
        # Per version and minute for the snapshots; per arm, the A/B guardrail's error rate.
        tallies_write(
            [
                TallyDelta(
                    chosen.ab_test_id or 0,
                    chosen.arm,
                    target.version_id,
                    errors=1,
                    reason=reason,
                    cpu_us=_cpu_us(cpu_started),
                )
            ],
            buffered=buffered,
        )
        raise
    n = len(scored.labels)
    ids = new_prediction_ids(n)
    latency = time.perf_counter() - started
    shadow = None
    if chosen.shadow is not None:
        shadow = _shadow_rows(chosen, instances, latency - (time.perf_counter() - scoring))
    prediction_logs_write(
        target=target,
        ids=ids,
        instances=instances,
        scored=scored,
        class_labels=serving.class_labels,
        unit_hash=chosen.unit_hash,
        ab_test_id=chosen.ab_test_id,
        arm=chosen.arm,
        source=source,
        request_id=request_id,
        latency_ms=latency * 1000.0,
        shadow=shadow,
        cpu_started=cpu_started,
        # The API's rows go through the process's log writer; a page shows its own
        # prediction in the recent list at once, so it writes synchronously.
        buffered=buffered,
    )
    metrics.record_served(
        target, source, scored, serving.class_labels, time.perf_counter() - started
    )
    return Served(
        route=chosen, target=target, class_labels=serving.class_labels, ids=ids, scored=scored
    )


def _shadow_rows(chosen: Route, instances: list[dict], overhead: float) -> ShadowRows | None:
    """The shadow version's answers for the same rows. Its latency is the request's time
    outside the model plus its own scoring, comparable with the answered rows'. Whatever
    goes wrong here is the challenger's error and never the caller's."""
    try:
        started, cpu_started = time.perf_counter(), time.thread_time()
        serving = model_cache.get(chosen.shadow)
        scored = serving.score_rows(instances)
        took = time.perf_counter() - started
        cpu = time.thread_time() - cpu_started
    except Exception as exc:
        logger.warning("shadow scoring by %s failed: %s", chosen.shadow, exc)
        reason = getattr(exc, "reason", None) or getattr(exc, "code", "error")
        tallies_write(
            [
                TallyDelta(
                    chosen.ab_test_id,
                    chosen.shadow_arm,
                    chosen.shadow.version_id,
                    errors=1,
                    reason=f"shadow_{reason}"[:40],
                )
            ],
            buffered=True,
        )
        return None
    return ShadowRows(
        target=chosen.shadow,
        ids=new_prediction_ids(len(scored.labels)),
        scored=scored,
        class_labels=serving.class_labels,
        arm=chosen.shadow_arm,
        latency_ms=max(overhead, 0.0) * 1000.0 + took * 1000.0,
        cpu_seconds=cpu,
    )


def _cpu_us(cpu_started: float | None) -> int:
    """The serving thread's CPU microseconds since `cpu_started` (0 when not measured)."""
    return 0 if cpu_started is None else int((time.thread_time() - cpu_started) * 1e6)


def _rows_from_columns(columns: dict, names: list[str], n: int) -> list[dict]:
    lists = [
        columns[name].tolist() if isinstance(columns[name], np.ndarray) else columns[name]
        for name in names
    ]
    return (
        [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)] if n else []
    )


# -- explanations ----------------------------------------------------------------------------


@dataclass
class Explained:
    target: Target
    class_labels: list[str]
    scored: Scored
    explanation: object  # engine.explain.Explanation
    method: str

    def rows(self) -> list[dict]:
        """Per row: the prediction, the class explained (the predicted one), its raw score,
        the base value and one contribution per input feature (the REST answer)."""
        e = self.explanation
        return [
            {
                "label": label,
                "probabilities": probabilities,
                "explained_class": self.class_labels[int(e.classes[i])],
                "output": float(e.outputs[i]),
                "base_value": float(e.base_values[i]),
                "contributions": dict(
                    zip(e.feature_names, e.contributions[i].tolist(), strict=True)
                ),
            }
            for i, (label, probabilities) in enumerate(
                zip(
                    self.scored.labels,
                    self.scored.probability_dicts(self.class_labels),
                    strict=True,
                )
            )
        ]


def explanations_serve(
    *, model_name: str, instances, version: int | None = None, stage: str | None = None
) -> Explained:
    """Predict and explain `instances` (row objects, validated as for predict) with the
    version that `version` or `stage` names, else production; nothing is logged (an
    explanation is not a served prediction). Raises NotFound, Conflict (a version whose
    reference sample is missing or changed), RequestError."""
    if isinstance(instances, list) and len(instances) > settings.EXPLAIN_MAX_ROWS:
        raise RequestError(
            f"The batch has {len(instances)} rows; the limit is {settings.EXPLAIN_MAX_ROWS} "
            "per explain request.",
            reason="too_many_rows",
            field="instances",
        )
    target = model_cache.resolve(model_name, version=version, stage=stage)
    serving = model_cache.get(target)
    try:
        method = serving.explainer().method  # built on first use: reads the reference sample
    except (FileNotFoundError, ValueError) as exc:
        raise Conflict(f"Cannot explain {model_name} v{target.version}: {exc}") from exc
    scored, explanation = serving.explain_rows(instances)
    return Explained(
        target=target,
        class_labels=serving.class_labels,
        scored=scored,
        explanation=explanation,
        method=method,
    )
