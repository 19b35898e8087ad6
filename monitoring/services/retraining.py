"""Retraining: a drift verdict (or a performance drop, or a person) trains a challenger.

1. `retraining_start` decides under the monitor's row lock, so concurrent checks cannot both
   start one: nothing starts while a retraining of the model is in flight, nor (for automatic
   triggers) within the monitor's cooldown, nor without the minimum of labelled predictions.
2. It builds a new Dataset, with its lineage in `source_params`: the production version's
   training data plus the recent labelled predictions of the production version, except the
   newest `RETRAIN_HOLDOUT_SHARE` of them, which are held out.
3. It starts a training job (trigger "drift" or "manual") on that dataset.
4. `retrainings_settle` (Beat, every minute, on the monitoring queue) finds finished jobs:
   the champion and the challenger are scored on the held-out rows (engine.comparison: ROC
   AUC, accuracy and log loss with paired bootstrap intervals), the comparison is stored with
   the retraining and as the evidence of the challenger's move to `staging`. Production
   changes only when a person (or, next, an A/B test) promotes it.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from abtests.services import abtest_create
from core import csvfiles
from core.errors import Conflict, DomainError, InvalidInput
from core.events import emit
from core.models import JobStatus
from engine.comparison import compare_models
from engine.values import json_safe
from inference.selectors import prediction_window
from monitoring.models import DriftCheck, DriftMonitor, Retraining
from registry.selectors import DatasetOrigin, Stage, model_version_production_of
from registry.services import dataset_ingest, model_version_load, model_version_transition
from training.selectors import TrainingTrigger
from training.services import training_job_create

if TYPE_CHECKING:
    from registry.models import ModelVersion

logger = logging.getLogger(__name__)


def _production(monitor: DriftMonitor) -> ModelVersion:
    version = model_version_production_of(monitor.registered_model_id)
    if version is None:
        raise InvalidInput(
            f"Model {monitor.registered_model.name!r} has no production version to retrain.",
            field="model",
        )
    return version


def retraining_blocker(monitor: DriftMonitor, *, automatic: bool) -> str:
    """Why a retraining may not start now ("" when it may): one in flight, or (automatic
    triggers only) the cooldown since the last one."""
    in_flight = monitor.retrainings.filter(status=Retraining.Status.TRAINING).first()
    if in_flight is not None:
        return (
            f"Retraining {in_flight.pk} of {monitor.registered_model.name} is still in flight "
            f"(training job {in_flight.training_job_id})."
        )
    if automatic:
        last = monitor.retrainings.order_by("-created_at").first()
        cooldown = timedelta(hours=monitor.retrain_cooldown_hours)
        if last is not None and timezone.now() - last.created_at < cooldown:
            return (
                f"Cooldown: the last retraining started {last.created_at:%Y-%m-%d %H:%M}, less "
                f"than {monitor.retrain_cooldown_hours} h ago."
            )
    return ""


def _labelled_window(monitor: DriftMonitor, champion: ModelVersion) -> list[tuple]:
    """The production version's most recent labelled predictions, oldest first."""
    return prediction_window(
        version_id=champion.pk,
        columns=("features", "label", "created_at"),
        limit=monitor.window_rows,
        labelled_only=True,
    )


def _frame(rows: list[tuple], columns: list[str], target: str) -> pd.DataFrame:
    frame = pd.DataFrame([features for features, _, _ in rows])
    frame = frame.reindex(columns=[c for c in columns if c != target])
    frame[target] = [label for _, label, _ in rows]
    return frame[columns]


def retraining_start(
    *,
    monitor: DriftMonitor,
    trigger: str = Retraining.Trigger.MANUAL,
    check: DriftCheck | None = None,
    actor=None,
) -> Retraining:
    """Start a retraining of the monitor's model (see the module docstring). Raises Conflict
    (in flight, cooldown, too few labels) or InvalidInput (no production version)."""
    automatic = trigger != Retraining.Trigger.MANUAL
    with transaction.atomic():
        monitor = (
            DriftMonitor.objects.select_for_update()
            .select_related("registered_model")
            .get(pk=monitor.pk)
        )
        reason = retraining_blocker(monitor, automatic=automatic)
        if reason:
            raise Conflict(reason)
        champion = _production(monitor)
        labelled = _labelled_window(monitor, champion)
        if len(labelled) < monitor.retrain_min_labelled:
            raise Conflict(
                f"Retraining needs at least {monitor.retrain_min_labelled} labelled predictions "
                f"of {champion}; there are {len(labelled)}."
            )
        parent = champion.dataset
        target = parent.target or (champion.signature or {}).get("target", "")
        parent_frame = csvfiles.read_frame(parent.absolute_path, parent.delimiter)
        n_holdout = max(1, round(len(labelled) * settings.RETRAIN_HOLDOUT_SHARE))
        used, held_out = labelled[:-n_holdout], labelled[-n_holdout:]
        columns = list(parent_frame.columns)
        combined = pd.concat([parent_frame, _frame(used, columns, target)], ignore_index=True)
        now = timezone.now()
        lineage = {
            "parent_dataset": parent.pk,
            "parent_sha256": parent.sha256,
            "champion_version": champion.pk,
            "drift_check": check.pk if check else None,
            "rows_from_parent": len(parent_frame),
            "rows_from_predictions": len(used),
            "rows_held_out": len(held_out),
            "predictions_from": used[0][2].isoformat() if used else None,
            "predictions_to": used[-1][2].isoformat() if used else None,
            "held_out_from": held_out[0][2].isoformat(),
        }
        name = f"{monitor.registered_model.name} retraining {now:%Y-%m-%d %H:%M:%S}"
        dataset, _ = dataset_ingest(
            source=io.BytesIO(combined.to_csv(index=False).encode()),
            filename=f"{monitor.registered_model.name}-retraining.csv",
            name=name,
            target=target,
            description=f"{parent.name} plus {len(used)} labelled predictions of {champion}.",
            origin=DatasetOrigin.RETRAINING,
            source_params={"lineage": lineage},
        )
        directory = settings.DERIVED_DIR / "retraining"
        directory.mkdir(parents=True, exist_ok=True)
        holdout_path = directory / f"{monitor.registered_model.name}-{now:%Y%m%dT%H%M%S%f}.csv"
        _frame(held_out, columns, target).to_csv(holdout_path, index=False)
        job = training_job_create(
            dataset=dataset,
            model_name=monitor.registered_model.name,
            target=target,
            n_trials=settings.RETRAIN_TRIALS,
            trigger={
                Retraining.Trigger.MANUAL: TrainingTrigger.MANUAL,
                Retraining.Trigger.SCHEDULE: TrainingTrigger.SCHEDULE,
            }.get(trigger, TrainingTrigger.DRIFT),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        retraining = Retraining.objects.create(
            monitor=monitor,
            drift_check=check,
            trigger=trigger,
            champion=champion,
            dataset=dataset,
            training_job=job,
            holdout_path=str(holdout_path),
            n_parent_rows=len(parent_frame),
            n_window_rows=len(used),
            n_holdout_rows=len(held_out),
            created_by=job.created_by,
        )
    logger.info("%s started (%s), training job %s", retraining, trigger, job.pk)
    emit(
        "retraining.started",
        model_name=monitor.registered_model.name,
        version=champion.version,
        summary=f"Retraining {retraining.pk} of {champion} started ({trigger}), training job "
        f"{job.pk}",
        data={"retraining": retraining.pk, "training_job": job.pk, "trigger": trigger},
    )
    return retraining


def retraining_after_check(check: DriftCheck) -> Retraining | None:
    """Start a retraining when a finished check calls for one and the monitor's policy
    allows it; the reason it did not start is logged and kept on the check."""
    if check.verdict != DriftCheck.Verdict.DRIFT and not check.performance_drop:
        return None
    monitor = check.monitor
    if not monitor.retrain_enabled:
        return None
    trigger = (
        Retraining.Trigger.DRIFT
        if check.verdict == DriftCheck.Verdict.DRIFT
        else Retraining.Trigger.PERFORMANCE
    )
    try:
        return retraining_start(monitor=monitor, trigger=trigger, check=check)
    except DomainError as exc:
        logger.info("drift check %s: no retraining: %s", check.pk, exc.message)
        DriftCheck.objects.filter(pk=check.pk).update(retraining_note=exc.message[:500])
        return None


def retraining_scheduled(*, monitor_id: int) -> Retraining | None:
    """The retraining a monitor's calendar asks for (cooldown and single flight apply);
    None, logged, when the monitor is off or the policy refuses."""
    monitor = DriftMonitor.objects.filter(pk=monitor_id).first()
    if monitor is None or not (monitor.enabled and monitor.retrain_enabled):
        logger.info(
            "drift monitor %s is gone or not retraining: no scheduled retraining", monitor_id
        )
        return None
    try:
        return retraining_start(monitor=monitor, trigger=Retraining.Trigger.SCHEDULE)
    except DomainError as exc:
        logger.info("no scheduled retraining of monitor %s: %s", monitor_id, exc.message)
        return None


def _indices(labels: list, class_labels: list[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(class_labels)}
    return np.array([index[str(label)] for label in labels], dtype=np.int64)


def retraining_settle(retraining: Retraining) -> Retraining:
    """Compare and stage a retraining whose job finished (see the module docstring)."""
    job = retraining.training_job
    if not job.is_finished:
        return retraining
    if job.status != JobStatus.SUCCEEDED or job.result_version is None:
        Retraining.objects.filter(pk=retraining.pk).update(
            status=Retraining.Status.FAILED,
            error=f"Training job {job.pk} {job.status}: {job.error}".strip(),
            settled_at=timezone.now(),
        )
        retraining.refresh_from_db()
        emit(
            "retraining.finished",
            model_name=retraining.champion.registered_model.name,
            summary=f"Retraining {retraining.pk} failed: {retraining.error}",
            data={"retraining": retraining.pk, "status": retraining.status},
        )
        return retraining
    challenger = job.result_version
    champion = retraining.champion
    holdout = csvfiles.read_frame(retraining.holdout_path, ",")
    target = champion.signature.get("target") or retraining.dataset.target
    champion_model = model_version_load(version=champion)
    challenger_model = model_version_load(version=challenger)
    labels = challenger_model.class_labels
    features = holdout.drop(columns=[target])
    champion_proba = champion_model.predict_proba(features)
    # Columns in the challenger's class order (both were trained on the same labels).
    order = [champion_model.class_labels.index(label) for label in labels]
    comparison = compare_models(
        _indices(holdout[target].astype(str).tolist(), labels),
        champion_proba[:, order],
        challenger_model.predict_proba(features),
        champion_threshold=champion_model.threshold,
        challenger_threshold=challenger_model.threshold,
        seed=retraining.pk,
    )
    comparison = json_safe({"rows": len(holdout), "metrics": comparison})
    with transaction.atomic():
        model_version_transition(
            version=challenger,
            to_stage=Stage.STAGING,
            reason=(
                f"Retrained ({retraining.get_trigger_display().lower()}) from {champion}; "
                f"compared on {len(holdout)} held-out recent rows."
            ),
            evidence={"retraining": retraining.pk, "comparison": comparison},
        )
        Retraining.objects.filter(pk=retraining.pk).update(
            status=Retraining.Status.STAGED,
            challenger=challenger,
            comparison=comparison,
            settled_at=timezone.now(),
        )
    retraining.refresh_from_db()
    logger.info("%s settled: %s in staging", retraining, challenger)
    emit(
        "retraining.finished",
        model_name=challenger.registered_model.name,
        version=challenger.version,
        summary=f"Retraining {retraining.pk} finished: {challenger} is in staging",
        data={"retraining": retraining.pk, "status": retraining.status},
    )
    _start_policy_test(retraining)
    return retraining


def _start_policy_test(retraining: Retraining) -> None:
    """The monitor's policy: test the staged challenger against production (split or
    shadow), deciding and promoting on its own. A test that cannot start says why."""
    policy = retraining.monitor.after_retraining
    if policy == DriftMonitor.AfterRetraining.STAGE:
        return
    mode = "shadow" if policy == DriftMonitor.AfterRetraining.SHADOW_TEST else "split"
    try:
        with transaction.atomic():
            test = abtest_create(
                challenger=retraining.challenger, mode=mode, origin="retraining", auto_promote=True
            )
    except DomainError as exc:
        Retraining.objects.filter(pk=retraining.pk).update(ab_test_note=exc.message[:500])
        logger.warning("%s: the policy's A/B test did not start: %s", retraining, exc.message)
        return
    Retraining.objects.filter(pk=retraining.pk).update(ab_test=test)
    retraining.ab_test = test


def retrainings_settle() -> int:
    """Settle every in-flight retraining whose job finished; how many were settled."""
    settled = 0
    for pk in Retraining.objects.filter(status=Retraining.Status.TRAINING).values_list(
        "pk", flat=True
    ):
        try:
            with transaction.atomic():
                # Locked for the whole settlement: a second settler skips it.
                retraining = (
                    Retraining.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("training_job__result_version", "champion", "dataset")
                    .filter(pk=pk, status=Retraining.Status.TRAINING)
                    .first()
                )
                if retraining is None or not retraining.training_job.is_finished:
                    continue
                retraining_settle(retraining)
        except Exception as exc:  # noqa: BLE001 - the retraining's outcome, with its reason
            logger.exception("settling retraining %s failed", pk)
            Retraining.objects.filter(pk=pk).update(
                status=Retraining.Status.FAILED,
                error=f"{type(exc).__name__}: {exc}",
                settled_at=timezone.now(),
            )
        settled += 1
    return settled
