"""Drift monitors and checks: the write side.

A monitor per model holds the schedule (a django-celery-beat PeriodicTask kept in sync here),
the window and the thresholds. A check is a job (core.jobs): created QUEUED, claimed by a
worker on the `monitoring` queue, finished with its verdict or its failure. It compares the
production version's reference sample (the CSV written at registration, its sha256 verified)
with the current side: the last N predictions the version served, the last T hours of them,
or an uploaded CSV. The statistics are engine.drift's.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from core import csvfiles
from core.errors import InvalidInput
from core.events import emit
from core.jobs import JobRunner
from core.models import JobStatus
from engine.drift import DriftConfig
from engine.drift_engines import run_engine
from engine.performance import performance_check
from engine.values import boolean_values, category_strings, json_safe
from inference.selectors import prediction_window
from monitoring.models import DriftCheck, DriftMonitor
from registry.selectors import model_version_production_of, model_version_reference

if TYPE_CHECKING:
    from registry.models import ModelVersion, RegisteredModel

logger = logging.getLogger(__name__)

SCHEDULED_TASK = "monitoring.run_scheduled_drift_check"
SCHEDULED_RETRAIN_TASK = "monitoring.run_scheduled_retraining"
EDITABLE_FIELDS = DriftMonitor.EDITABLE


def _enqueue(check: DriftCheck) -> None:
    from monitoring.tasks import run_drift_check_task

    run_drift_check_task.delay(check.pk)


DRIFT_CHECKS = JobRunner(
    kind="drift",
    model=DriftCheck,
    enqueue=_enqueue,
    label="drift check",
    cost_kind="drift_check",
    cost_owner=lambda check: (
        check.monitor.registered_model.name,
        check.model_version.version if check.model_version_id else None,
    ),
)


# -- monitors ----------------------------------------------------------------------------------


def _periodic_task_name(monitor: DriftMonitor) -> str:
    return f"drift check: {monitor.registered_model.name}"


def _crontab(expression: str) -> CrontabSchedule:
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidInput(
            f"A crontab has five fields (minute hour day-of-month month day-of-week); "
            f"{expression!r} has {len(fields)}.",
            field="crontab",
        )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    schedule = CrontabSchedule(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=settings.TIME_ZONE,
    )
    try:
        schedule.full_clean(exclude=["timezone"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(f"crontab {field}: {messages[0]}", field="crontab") from None
    existing = CrontabSchedule.objects.filter(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    ).first()
    if existing is not None:
        return existing
    schedule.save()
    return schedule


def _sync_periodic_task(monitor: DriftMonitor) -> None:
    """Create or update the monitor's PeriodicTask to match it (enabled, interval or crontab)."""
    task = monitor.periodic_task or PeriodicTask(name=_periodic_task_name(monitor))
    task.name = _periodic_task_name(monitor)
    task.task = SCHEDULED_TASK
    task.kwargs = json.dumps({"monitor_id": monitor.pk})
    task.queue = "monitoring"
    task.enabled = monitor.enabled
    task.description = f"Drift check of {monitor.registered_model.name} (monitoring.DriftMonitor)"
    if monitor.schedule == DriftMonitor.Schedule.CRONTAB:
        task.crontab = _crontab(monitor.crontab)
        task.interval = None
    else:
        task.interval, _ = IntervalSchedule.objects.get_or_create(
            every=monitor.interval_minutes, period=IntervalSchedule.MINUTES
        )
        task.crontab = None
    task.save()
    if monitor.periodic_task_id != task.pk:
        monitor.periodic_task = task
        DriftMonitor.objects.filter(pk=monitor.pk).update(periodic_task=task)
    _sync_retrain_task(monitor)


def _sync_retrain_task(monitor: DriftMonitor) -> None:
    """The calendar retraining's PeriodicTask: every `retrain_every_days` days while the
    monitor and its retraining policy are on; disabled (kept, with its history) otherwise."""
    wanted = monitor.enabled and monitor.retrain_enabled and monitor.retrain_every_days > 0
    task = monitor.retrain_task
    if task is None and not wanted:
        return
    task = task or PeriodicTask(name=f"retraining: {monitor.registered_model.name}")
    task.task = SCHEDULED_RETRAIN_TASK
    task.kwargs = json.dumps({"monitor_id": monitor.pk})
    task.queue = "monitoring"
    task.enabled = wanted
    task.interval, _ = IntervalSchedule.objects.get_or_create(
        every=max(monitor.retrain_every_days, 1), period=IntervalSchedule.DAYS
    )
    task.crontab = None
    task.description = f"Scheduled retraining of {monitor.registered_model.name}"
    task.save()
    if monitor.retrain_task_id != task.pk:
        monitor.retrain_task = task
        DriftMonitor.objects.filter(pk=monitor.pk).update(retrain_task=task)


def drift_monitor_save(*, monitor: DriftMonitor, **changes) -> DriftMonitor:
    """Apply `changes` (EDITABLE_FIELDS only), validate, save and sync the schedule.
    Raises InvalidInput naming the first bad field; nothing is saved then."""
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidInput(f"{unknown[0]!r} cannot be changed.", field=unknown[0])
    for name, value in changes.items():
        setattr(monitor, name, value)
    if monitor.schedule == DriftMonitor.Schedule.CRONTAB and not monitor.crontab.strip():
        raise InvalidInput("A crontab schedule needs its crontab expression.", field="crontab")
    try:
        monitor.full_clean(exclude=["registered_model", "periodic_task", "retrain_task"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(f"{field}: {messages[0]}", field=field) from None
    with transaction.atomic():
        monitor.save()
        _sync_periodic_task(monitor)
    return monitor


def drift_monitor_ensure(*, model: RegisteredModel) -> DriftMonitor:
    """The model's monitor, created with the defaults (and its schedule) if it has none."""
    with transaction.atomic():
        monitor, created = DriftMonitor.objects.get_or_create(registered_model=model)
        if created:
            _sync_periodic_task(monitor)
    return monitor


def drift_monitor_delete_schedule(*, monitor: DriftMonitor) -> None:
    if monitor.periodic_task_id:
        PeriodicTask.objects.filter(pk=monitor.periodic_task_id).delete()


# -- checks ------------------------------------------------------------------------------------


def _production(monitor: DriftMonitor) -> ModelVersion:
    version = model_version_production_of(monitor.registered_model_id)
    if version is None:
        raise InvalidInput(
            f"Model {monitor.registered_model.name!r} has no production version to check.",
            field="model",
        )
    return version


def _config(monitor: DriftMonitor) -> dict:
    return {
        "window": monitor.window,
        "window_rows": monitor.window_rows,
        "window_hours": monitor.window_hours,
        "min_sample": monitor.min_sample,
        "fdr_q": monitor.fdr_q,
        "numeric_effect_floor": monitor.numeric_effect_floor,
        "categorical_effect_floor": monitor.categorical_effect_floor,
        "dataset_rule": monitor.dataset_rule,
        "dataset_threshold": monitor.dataset_threshold,
        "performance_alpha": monitor.performance_alpha,
    }


def _features(version: ModelVersion) -> list[dict]:
    return list((version.signature or {}).get("features") or [])


def _stored_upload(file: BinaryIO, version: ModelVersion) -> Path:
    """Spool and validate an uploaded CSV: every feature the version reads must be a column.
    InvalidInput naming the first missing one; nothing is kept then."""
    spooled = csvfiles.spool(
        file, directory=settings.UPLOAD_TMP_DIR, limit=settings.DRIFT_UPLOAD_MAX_BYTES
    )
    try:
        parsed = csvfiles.parse_csv(spooled.path, min_rows=1)
        missing = [f["name"] for f in _features(version) if f["name"] not in parsed.frame.columns]
        if missing:
            raise InvalidInput(
                f"The file has no column {missing[0]!r}, a feature of "
                f"{version.registered_model.name} v{version.version}"
                + (f" ({len(missing)} missing)." if len(missing) > 1 else "."),
                field="file",
            )
        directory = settings.DRIFT_UPLOADS_DIR
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / f"{spooled.sha256}.csv"
        spooled.path.replace(final)
        return final
    finally:
        spooled.path.unlink(missing_ok=True)


def drift_check_create(
    *,
    monitor: DriftMonitor,
    trigger: str = DriftCheck.Trigger.MANUAL,
    actor=None,
    upload: BinaryIO | None = None,
    enqueue: bool = True,
) -> DriftCheck:
    """A QUEUED check of the model's production version, enqueued on commit (unless
    `enqueue` is off: `manage.py check_drift` runs it in its own process). With `upload`,
    the current side is that CSV (validated now: InvalidInput naming a missing feature, and
    nothing stored); otherwise the monitor's prediction-log window."""
    version = _production(monitor)
    upload_path = _stored_upload(upload, version) if upload is not None else None
    with transaction.atomic():
        check = DriftCheck.objects.create(
            monitor=monitor,
            model_version=version,
            trigger=trigger,
            source=DriftCheck.Source.UPLOAD if upload_path else DriftCheck.Source.WINDOW,
            engine=monitor.engine,
            config=_config(monitor),
            upload_path=str(upload_path or ""),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue(check))
    return check


def _reference(version: ModelVersion) -> pd.DataFrame:
    return model_version_reference(version)


def _window(check: DriftCheck) -> tuple[list[tuple], object, object]:
    """The check's window of logged rows, oldest first, as (features, prediction,
    probabilities, label, is_correct, created_at) tuples, and its bounds."""
    config = check.config
    since, limit = None, config["window_rows"]
    if config["window"] == DriftMonitor.Window.HOURS:
        since = check.created_at - timedelta(hours=config["window_hours"])
        limit = settings.DRIFT_WINDOW_MAX_ROWS
    picked = prediction_window(
        version_id=check.model_version_id,
        columns=("features", "prediction", "probabilities", "label", "is_correct", "created_at"),
        limit=limit,
        since=since,
        until=check.created_at,
    )
    if not picked:
        return [], None, None
    return picked, picked[0][-1], picked[-1][-1]


def _columns(frame_or_rows, features: list[dict]) -> dict[str, np.ndarray]:
    """One array per feature, read as training reads it (engine.values): float64 with NaN
    for numeric features, category strings for categorical ones, "true" / "false" for
    booleans; missing values stay missing (NaN or None)."""
    if isinstance(frame_or_rows, pd.DataFrame):
        series = {f["name"]: frame_or_rows[f["name"]].astype(object) for f in features}
    else:
        series = {
            f["name"]: pd.Series([row.get(f["name"]) for row in frame_or_rows], dtype=object)
            for f in features
        }
    columns = {}
    for feature in features:
        values = series[feature["name"]]
        if feature["kind"] == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            numbers[~np.isfinite(numbers)] = np.nan
            columns[feature["name"]] = numbers
        elif feature["kind"] == "boolean":
            flags = boolean_values(values)
            columns[feature["name"]] = np.where(
                np.isnan(flags), None, np.where(flags == 1.0, "true", "false")
            ).astype(object)
        else:
            columns[feature["name"]] = category_strings(values).to_numpy(dtype=object)
    return columns


def drift_check_run(*, check_id: int) -> DriftCheck | None:
    """Claim and run a queued check (a redelivered message does nothing); its outcome, or
    the failure with its reason, is on the row."""
    if not DRIFT_CHECKS.claim(job_id=check_id):
        return None
    check = DriftCheck.objects.select_related("model_version__registered_model", "monitor").get(
        pk=check_id
    )
    started = time.perf_counter()
    try:
        outcome = _compare(check)
    except Exception as exc:  # noqa: BLE001 - the job's outcome, with its reason
        logger.exception("drift check %s failed", check_id)
        DRIFT_CHECKS.finish(
            job_id=check_id,
            status=JobStatus.FAILED,
            reason=f"{type(exc).__name__}: {exc}",
            duration_s=time.perf_counter() - started,
        )
    else:
        DRIFT_CHECKS.finish(
            job_id=check_id,
            status=JobStatus.SUCCEEDED,
            duration_s=time.perf_counter() - started,
            **outcome,
        )
    check.refresh_from_db()
    if check.status == JobStatus.SUCCEEDED and (
        check.verdict == DriftCheck.Verdict.DRIFT or check.performance_drop
    ):
        found = ", ".join(check.drifted_features) or "no feature"
        emit(
            "drift.detected",
            model_name=check.model_version.registered_model.name,
            version=check.model_version.version,
            summary=f"Drift check {check.pk}: drifted {found}"
            + ("; live accuracy dropped" if check.performance_drop else ""),
            data={"drift_check": check.pk, "drifted_features": check.drifted_features},
        )
    if check.status == JobStatus.SUCCEEDED:
        from monitoring.services.retraining import retraining_after_check

        if retraining_after_check(check) is None and check.retraining_note == "":
            check.refresh_from_db(fields=["retraining_note"])
    return check


def _compare(check: DriftCheck) -> dict:
    version = check.model_version
    features = _features(version)
    config = check.config
    reference_frame = _reference(version)
    performance = None
    if check.source == DriftCheck.Source.UPLOAD:
        current_rows = csvfiles.parse_csv(Path(check.upload_path), min_rows=1).frame
        start = end = None
    else:
        logged, start, end = _window(check)
        current_rows = [row[0] for row in logged]
        performance = _performance(version, logged, alpha=config["performance_alpha"])
    n_current = len(current_rows)
    result = {
        "n_reference": len(reference_frame),
        "n_current": n_current,
        "window_start": start,
        "window_end": end,
    }
    if performance is not None:
        result["performance"] = json_safe(performance.to_dict())
        result["performance_drop"] = performance.drop
    if n_current < config["min_sample"]:
        return {**result, "verdict": DriftCheck.Verdict.INSUFFICIENT}
    reference = _columns(reference_frame, features)
    current = _columns(current_rows, features)
    kinds = {f["name"]: ("numeric" if f["kind"] == "numeric" else f["kind"]) for f in features}
    importance = (version.metrics or {}).get("feature_importance") or {}
    html_path = None
    if check.engine == DriftMonitor.Engine.EVIDENTLY:
        settings.DRIFT_REPORTS_DIR.mkdir(parents=True, exist_ok=True)
        html_path = settings.DRIFT_REPORTS_DIR / f"check-{check.pk}.html"
    report = run_engine(
        check.engine,
        reference,
        current,
        kinds,
        html_path=html_path,
        importances={name: v.get("mean", 0.0) for name, v in importance.items()},
        config=DriftConfig(
            fdr_q=config["fdr_q"],
            numeric_effect_floor=config["numeric_effect_floor"],
            categorical_effect_floor=config["categorical_effect_floor"],
            dataset_rule=config["dataset_rule"],
            dataset_threshold=config["dataset_threshold"],
        ),
    )
    return {
        **result,
        "verdict": DriftCheck.Verdict.DRIFT
        if report.drift_detected
        else DriftCheck.Verdict.NO_DRIFT,
        "drift_share": report.drift_share,
        "weighted_drift_share": report.weighted_drift_share,
        "features": [_feature_row(f) for f in report.features],
        "report_path": str(html_path) if html_path is not None else "",
    }


def _performance(version: ModelVersion, logged: list[tuple], *, alpha: float):
    """engine.performance on the window: every row's probability of its predicted class, and
    for the labelled rows whether they were right and the probability of the true class."""
    predicted = np.array(
        [float((probs or {}).get(prediction, 0.0)) for _, prediction, probs, _, _, _ in logged]
    )
    labelled = [
        (probs, label, right) for _, _, probs, label, right, _ in logged if label is not None
    ]
    metrics = version.metrics or {}
    matrix = metrics.get("confusion_matrix") or []
    return performance_check(
        predicted_probability=predicted,
        correct=np.array([bool(right) for _, _, right in labelled], dtype=bool),
        true_probability=np.array(
            [float((probs or {}).get(label, 0.0)) for probs, label, _ in labelled]
        ),
        test_accuracy=metrics.get("accuracy"),
        n_test=int(sum(sum(row) for row in matrix)) or None,
        test_log_loss=metrics.get("log_loss"),
        alpha=alpha,
    )


def _feature_row(feature) -> dict:
    return json_safe(asdict(feature))


def drift_checks_sweep() -> dict:
    return DRIFT_CHECKS.sweep()


def drift_check_scheduled(*, monitor_id: int) -> DriftCheck | None:
    """The check a monitor's schedule asks for, created QUEUED without enqueueing (the
    scheduled task runs it itself); None when the monitor is gone or disabled, or the model
    has no production version."""
    monitor = DriftMonitor.objects.select_related("registered_model").filter(pk=monitor_id).first()
    if monitor is None or not monitor.enabled:
        logger.info("drift monitor %s is gone or disabled: no scheduled check", monitor_id)
        return None
    try:
        version = _production(monitor)
    except InvalidInput as exc:
        logger.info("no scheduled drift check: %s", exc.message)
        return None
    return DriftCheck.objects.create(
        monitor=monitor,
        model_version=version,
        trigger=DriftCheck.Trigger.SCHEDULE,
        source=DriftCheck.Source.WINDOW,
        engine=monitor.engine,
        config=_config(monitor),
    )
