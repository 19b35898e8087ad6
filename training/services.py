"""Training jobs: create (validated, enqueued on commit), run on a worker, cancel, sweep stale.

The heavy engine (torch, scikit-learn, Optuna) is imported inside the functions a worker runs,
so the web process stays light.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from core import csvfiles
from core.costs import cpu_report
from core.errors import InvalidInput
from core.jobs import JobRunner
from engine import vocabulary
from registry.selectors import model_version_list_by_name
from training.models import TrainingJob, Trial

if TYPE_CHECKING:
    from registry.models import Dataset

logger = logging.getLogger(__name__)

# The choices a job may name, from the engine's one vocabulary.
FAMILIES = vocabulary.FAMILY_NAMES
IMBALANCE_STRATEGIES = vocabulary.IMBALANCE_NAMES
METRICS = vocabulary.OBJECTIVE_NAMES
MODEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def _supports_parallel_trials() -> bool:
    """Optuna's RDB storage shared by several workers needs a server database."""
    return connection.vendor == "postgresql"


def dataset_features(dataset: Dataset, target: str) -> list[tuple[str, str]]:
    """(name, kind) of the columns a model trained on `dataset` uses: all but the target and
    the columns flagged id-like or constant."""
    return [
        (c["name"], c["kind"])
        for c in dataset.columns
        if c["name"] != target and not {"id_like", "constant"} & set(c["flags"])
    ]


def _check_schema_matches(model_name: str, dataset: Dataset, target: str) -> None:
    latest = model_version_list_by_name(model_name).order_by("-version").first()
    if latest is None:
        return
    have = {(f["name"], f["kind"]) for f in latest.signature.get("features", [])}
    want = set(dataset_features(dataset, target))
    if have == want and latest.signature.get("target") == target:
        return
    missing = sorted(n for n, _ in have - want)
    extra = sorted(n for n, _ in want - have)
    parts = []
    if latest.signature.get("target") != target:
        parts.append(f"target {target!r} instead of {latest.signature.get('target')!r}")
    if missing:
        parts.append(f"missing or changed: {', '.join(missing)}")
    if extra:
        parts.append(f"new or changed: {', '.join(extra)}")
    raise InvalidInput(
        f"Dataset {dataset.name!r} does not match the feature schema of model {model_name!r} "
        f"(v{latest.version}): {'; '.join(parts)}. Train under a new model name.",
        field="model_name",
    )


def _choices(value, allowed: tuple[str, ...], field: str) -> list[str]:
    if value is None:
        return list(allowed)
    chosen = list(dict.fromkeys(value))
    if not chosen:
        raise InvalidInput(f"{field} must name at least one of {', '.join(allowed)}.", field=field)
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise InvalidInput(
            f"{field}: unknown {', '.join(map(str, unknown))}; choose from {', '.join(allowed)}.",
            field=field,
        )
    return chosen


def training_job_create(
    *,
    dataset: Dataset,
    model_name: str,
    target: str = "",
    families: list[str] | None = None,
    imbalance: list[str] | None = None,
    metric: str = "auto",
    n_trials: int | None = None,
    timeout_s: float | None = None,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    parallelism: int = 1,
    max_epochs: int = 60,
    trigger: str = TrainingJob.Trigger.MANUAL,
    created_by=None,
) -> TrainingJob:
    """Validate a training request, store the job (QUEUED) and enqueue it once committed."""
    model_name = (model_name or "").strip().lower()
    if not MODEL_NAME_RE.match(model_name):
        raise InvalidInput(
            "model_name must be 1-100 lowercase letters, digits, '-' or '_', starting with a "
            f"letter or digit (got {model_name!r}).",
            field="model_name",
        )
    target = (target or dataset.target).strip()
    if not target:
        raise InvalidInput(
            f"Dataset {dataset.name!r} has no target column; name one.", field="target"
        )
    if target not in dataset.column_names:
        raise InvalidInput(
            f"Target column {target!r} is not in dataset {dataset.name!r}.", field="target"
        )
    if target != dataset.target:
        frame = csvfiles.read_column(dataset.absolute_path, dataset.delimiter, target)
        csvfiles.target_classes(frame, target, max_classes=settings.DATASET_MAX_CLASSES)
    if not dataset_features(dataset, target):
        raise InvalidInput(
            "No usable feature columns: every other column is id-like or constant.",
            field="target",
        )
    families = _choices(families, FAMILIES, "families")
    imbalance = _choices(imbalance, IMBALANCE_STRATEGIES, "imbalance")
    if metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}.", field="metric")
    n_trials = settings.TRAINING_DEFAULT_TRIALS if n_trials is None else int(n_trials)
    if not 1 <= n_trials <= settings.TRAINING_MAX_TRIALS:
        raise InvalidInput(
            f"n_trials must be between 1 and {settings.TRAINING_MAX_TRIALS} (got {n_trials}).",
            field="n_trials",
        )
    if timeout_s is not None and not timeout_s > 0:
        raise InvalidInput("timeout_s must be a positive number of seconds.", field="timeout_s")
    if timeout_s is not None and timeout_s > settings.TASK_MAX_SECONDS:
        raise InvalidInput(
            f"timeout_s is above the longest allowed job ({settings.TASK_MAX_SECONDS} s).",
            field="timeout_s",
        )
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.05 <= value <= 0.4:
            raise InvalidInput(f"{name} must be between 0.05 and 0.4 (got {value}).", field=name)
    if not 1 <= max_epochs <= 500:
        raise InvalidInput("max_epochs must be between 1 and 500.", field="max_epochs")
    if not 1 <= parallelism <= settings.TRAINING_MAX_PARALLELISM:
        raise InvalidInput(
            f"parallelism must be between 1 and {settings.TRAINING_MAX_PARALLELISM}.",
            field="parallelism",
        )
    _check_schema_matches(model_name, dataset, target)
    effective = min(parallelism, n_trials) if _supports_parallel_trials() else 1
    config = {
        "target": target,
        "families": families,
        "imbalance": imbalance,
        "metric": metric,
        "n_trials": n_trials,
        "timeout_s": timeout_s,
        "seed": int(seed),
        "val_fraction": float(val_fraction),
        "test_fraction": float(test_fraction),
        "max_epochs": int(max_epochs),
        "parallelism_requested": parallelism,
    }
    with transaction.atomic():
        job = TrainingJob.objects.create(
            dataset=dataset,
            model_name=model_name,
            config=config,
            n_trials=n_trials,
            parallelism=effective,
            trigger=trigger,
            created_by=created_by,
        )
        job.study_name = f"modelyard-job-{job.pk}"
        job.save(update_fields=["study_name"])
        transaction.on_commit(lambda: _enqueue(job.pk, effective))
    return job


def _enqueue(job_id: int, parallelism: int) -> None:
    from training.tasks import run_training_job_task, run_training_trials_task

    run_training_job_task.delay(job_id)
    for _ in range(parallelism - 1):
        run_training_trials_task.delay(job_id)


# Claim, heartbeat, finish, cancel and the stale sweep (TRAINING_HEARTBEAT_TIMEOUT_SECONDS,
# TRAINING_REQUEUE_AFTER_SECONDS): the shared job runner. Trial workers of a parallel job
# heartbeat and poll the cancel flag through it too.
def _cost_owner(job: TrainingJob) -> tuple[str, int | None]:
    version = job.result_version.version if job.result_version_id else None
    return job.model_name, version


TRAINING_JOBS = JobRunner(
    kind="training",
    model=TrainingJob,
    enqueue=lambda job: _enqueue(job.pk, job.parallelism),
    cost_kind="training",
    cost_owner=_cost_owner,
)


def training_job_cancel(*, job: TrainingJob) -> TrainingJob:
    """A queued job is cancelled at once; a running one stops between trials or epochs."""
    return TRAINING_JOBS.cancel(job=job)


# --- Running on a worker ---------------------------------------------------------------------


class _JobHooks:
    """Callbacks the engine calls: record each trial, heartbeat, and check for cancellation."""

    def __init__(self, job: TrainingJob, direction: str):
        self.job_id = job.pk
        self.direction = direction
        self._pulse = TRAINING_JOBS.pulse(job_id=job.pk)

    def heartbeat(self, force: bool = False) -> None:
        self._pulse.beat(force=force)

    def should_stop(self) -> bool:
        self._pulse.beat()
        return self._pulse.cancel_requested()

    def on_trial(self, record) -> None:
        Trial.objects.update_or_create(
            job_id=self.job_id,
            number=record.number,
            defaults={
                "family": record.family,
                "imbalance": record.imbalance,
                "params": record.params,
                "state": record.state,
                "value": record.value,
                "duration_s": record.duration_s,
                "cpu_seconds": record.cpu_seconds,
                "curve": record.curve,
                "error": record.error[:4000],
            },
        )
        # Recount from the table: several workers may record trials of one job at once.
        complete = Q(state=Trial.State.COMPLETE)
        best = Max if self.direction == "maximize" else Min
        stats = Trial.objects.filter(job_id=self.job_id).aggregate(
            done=Count("id", filter=complete),
            pruned=Count("id", filter=Q(state=Trial.State.PRUNED)),
            failed=Count("id", filter=Q(state=Trial.State.FAILED)),
            best=best("value", filter=complete),
        )
        self._pulse.progress(
            trials_done=stats["done"],
            trials_pruned=stats["pruned"],
            trials_failed=stats["failed"],
            best_value=stats["best"],
        )


def _engine_config(job: TrainingJob):
    from engine.search import SearchConfig

    c = job.config
    return SearchConfig(
        target=c["target"],
        families=list(c["families"]),
        imbalance=list(c["imbalance"]),
        metric=c["metric"],
        n_trials=job.n_trials,
        timeout_s=c.get("timeout_s"),
        seed=c.get("seed", 0),
        val_fraction=c.get("val_fraction", 0.15),
        test_fraction=c.get("test_fraction", 0.15),
        max_epochs=c.get("max_epochs", 60),
    )


def _prepare(job: TrainingJob, worker_index: int = 0):
    from engine.search import create_study, prepare_data

    dataset = job.dataset
    frame = csvfiles.read_frame(dataset.absolute_path, dataset.delimiter)
    config = _engine_config(job)
    prepared = prepare_data(frame, config, columns=dataset.columns)
    study = create_study(
        config,
        storage=optuna_storage(),
        study_name=job.study_name,
        load_if_exists=True,
        worker_index=worker_index,
    )
    return config, prepared, study


def optuna_storage():
    """The platform's PostgreSQL database as an Optuna RDB storage, so trials of one study can
    run on several workers; None (in-memory, one worker) elsewhere. No connection pool: a
    worker holds no idle connections between trials, and none outlive the job."""
    url = optuna_storage_url()
    if url is None:
        return None
    import optuna
    from sqlalchemy.pool import NullPool

    return optuna.storages.RDBStorage(url, engine_kwargs={"poolclass": NullPool})


def optuna_storage_url() -> str | None:
    """The SQLAlchemy URL of the platform's PostgreSQL database, or None on other databases."""
    if connection.vendor != "postgresql":
        return None
    from urllib.parse import quote

    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(str(db["PASSWORD"]), safe="")
    host = db.get("HOST") or "localhost"
    port = db.get("PORT") or 5432
    return f"postgresql+psycopg://{auth}@{host}:{port}/{db['NAME']}"


def training_job_run(*, job_id: int, worker: str = "") -> TrainingJob | None:
    """Claim a queued job and run its search; a redelivered message finds it claimed and
    returns None. Every outcome is written on the row: SUCCEEDED with the new version,
    CANCELLED with the trials so far, or FAILED with the reason."""
    if not TRAINING_JOBS.claim(job_id=job_id, worker=worker):
        return None
    job = TrainingJob.objects.select_related("dataset").get(pk=job_id)
    from engine.errors import Cancelled, NoSuccessfulTrials

    try:
        config, prepared, study = _prepare(job)
        hooks = _JobHooks(job, direction=study.direction.name.lower())
        share = math.ceil(job.n_trials / job.parallelism)
        _run_share(job, config, prepared, study, hooks, share)
        if job.parallelism > 1:
            _complete_study(job, config, prepared, study, hooks)
        if hooks.should_stop() or TRAINING_JOBS.cancel_requested(job_id=job.pk):
            raise Cancelled()
        from engine.search import finalize

        result = finalize(prepared, config, study=study)
        from registry.services import model_version_register

        version = model_version_register(
            model_name=job.model_name, dataset=job.dataset, result=result, training_job=job
        )
        TRAINING_JOBS.finish(
            job_id=job.pk,
            status=TrainingJob.Status.SUCCEEDED,
            result_version=version,
        )
    except Cancelled:
        TRAINING_JOBS.finish(
            job_id=job.pk,
            status=TrainingJob.Status.CANCELLED,
            reason="Cancelled by request; the trials finished so far are kept.",
        )
    except NoSuccessfulTrials as exc:
        TRAINING_JOBS.finish(
            job_id=job.pk,
            status=TrainingJob.Status.FAILED,
            reason=str(exc),
        )
    except Exception as exc:  # any other failure is the job's outcome, written on its row
        logger.exception("training job %s failed", job.pk)
        TRAINING_JOBS.finish(
            job_id=job.pk,
            status=TrainingJob.Status.FAILED,
            reason=f"{type(exc).__name__}: {exc}",
        )
    job.refresh_from_db()
    return job


def _run_share(job, config, prepared, study, hooks, share: int) -> None:
    from engine.search import run_trials

    run_trials(
        prepared,
        config,
        study=study,
        n_trials=share,
        on_trial=hooks.on_trial,
        should_stop=hooks.should_stop,
        timeout_s=config.timeout_s,
    )


def _complete_study(job, config, prepared, study, hooks) -> None:
    """The finishing worker of a parallel job makes sure the study reaches n_trials.

    Trial workers that never started (all workers busy, or one worker process only) leave
    their share undone: this worker runs what is missing itself, and otherwise waits while
    others are still running trials, giving up on trials whose worker went silent.
    """
    from optuna.trial import TrialState

    finished_states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    started = time.monotonic()
    last_progress, last_finished = time.monotonic(), -1
    while True:
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in finished_states for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if finished >= job.n_trials:
            return
        if config.timeout_s and time.monotonic() - started > config.timeout_s:
            return
        if finished != last_finished:
            last_finished, last_progress = finished, time.monotonic()
        if time.monotonic() - last_progress > settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS:
            logger.warning("training job %s: %s trials stuck running; finishing", job.pk, running)
            return
        missing = job.n_trials - finished - running
        if missing > 0:
            _run_share(job, config, prepared, study, hooks, missing)
            continue
        if hooks.should_stop():
            return
        time.sleep(1.0)


def training_job_run_trials(*, job_id: int) -> int:
    """A trial worker of a parallel job: run its share of trials in the shared study.

    Returns the number of trials it ran (0 when the job no longer needs it). The study's
    trial cap stops it once the job has all its trials, whoever ran them."""
    slot = TrainingJob.objects.filter(
        pk=job_id,
        status__in=[TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING],
        helpers_started__lt=F("parallelism") - 1,
    ).update(helpers_started=F("helpers_started") + 1)
    if not slot:
        return 0
    job = TrainingJob.objects.select_related("dataset").get(pk=job_id)
    slot_number = job.helpers_started
    ran = 0
    cpu_start = time.process_time()
    try:
        config, prepared, study = _prepare(job, worker_index=job.helpers_started)
        hooks = _JobHooks(job, direction=study.direction.name.lower())
        before = len(study.trials)
        share = math.ceil(job.n_trials / job.parallelism)
        from engine.errors import Cancelled

        try:
            _run_share(job, config, prepared, study, hooks, share)
        except Cancelled:
            pass
        ran = len(study.trials) - before
    except Exception:  # the finishing worker reports the job's outcome; this one just logs
        logger.exception("training job %s: trial worker failed", job_id)
    _helper_cost(job, slot_number, time.process_time() - cpu_start)
    return ran


def _helper_cost(job: TrainingJob, slot: int, cpu: float) -> None:
    """A trial worker's CPU time is the job's too: added to its row and reported."""
    TrainingJob.objects.filter(pk=job.pk).update(cpu_seconds=F("cpu_seconds") + cpu)
    job.refresh_from_db()
    model_name, version = _cost_owner(job)
    cpu_report(
        "training",
        key=f"training:job:{job.pk}:helper:{slot}",
        started_at=job.started_at or timezone.now(),
        ended_at=timezone.now(),
        cpu_seconds=cpu,
        model_name=model_name,
        version=version,
        source=f"training job {job.pk}",
        source_id=job.pk,
        detail={"trial_worker": slot},
        mode="set",
    )


def training_jobs_sweep() -> dict:
    """Beat task body: fail RUNNING jobs whose worker went silent; re-enqueue QUEUED jobs no
    worker picked up (a redelivered duplicate is a no-op thanks to the claim)."""
    return TRAINING_JOBS.sweep()
