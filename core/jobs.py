"""The job runner: work that a worker claims and a person watches (training jobs, batch
scoring; next drift checks, retraining, A/B evaluations, Hub exports).

A job is a row (a model on `core.models.Job`) that goes QUEUED → RUNNING → SUCCEEDED, FAILED
or CANCELLED. The row is the truth; a Celery message only says "look at row N", so a lost,
late or duplicated message can never run work twice or leave a job hanging:

1. The service that creates the row enqueues its task on commit (`JobRunner.enqueue`).
2. The task claims the row by a conditional update, QUEUED → RUNNING (`claim`). A redelivered
   or duplicate message finds it claimed, and the task returns without doing anything.
3. While it works, the task heartbeats, writes progress and, if the kind can be cancelled,
   polls the cancel flag, all through one `JobPulse` per run.
4. It finishes with a status and a reason (`finish`), written only if the row is still
   RUNNING: when a sweep already declared the worker lost, that outcome stands. The process
   CPU seconds from claim to finish are the job's cost (core.costs): added to the row's
   `cpu_seconds` when it has one, and reported under the kind's `cost_kind`.
5. `cancel` ends a QUEUED job at once and asks a RUNNING one to stop (it polls the flag).
6. A Beat task per kind calls `sweep`: RUNNING rows whose heartbeat is older than the kind's
   timeout become FAILED ("Worker lost: ..."), each followed by the kind's `on_lost` cleanup;
   QUEUED rows that no worker picked up within the kind's requeue delay are enqueued again.

Adding a kind:

- a model on `core.models.Job` with a `status` field using `JobStatus` values, plus
  `cancel_requested = BooleanField(default=False)` to be cancellable and `worker` to record
  who claimed it;
- two settings, `<KIND>_HEARTBEAT_TIMEOUT_SECONDS` and `<KIND>_REQUEUE_AFTER_SECONDS`
  (env-driven, in mlops_site/settings.py), read on each sweep;
- one module-level `JobRunner(kind=..., model=..., enqueue=...)` in the app's services, used
  by its create, run, cancel and sweep services;
- a run task routed to the kind's queue (long work: `training` or `batch`; short work:
  `monitoring` or `default`), a sweep task routed to `monitoring`, and a
  CELERY_BEAT_SCHEDULE entry for the sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.costs import cpu_report
from core.errors import Conflict
from core.events import emit
from core.models import Job, JobStatus

logger = logging.getLogger(__name__)

# The error column is a TextField; a reason is cut here so a runaway traceback stays readable.
REASON_MAX_CHARS = 4000
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
# (kind, job id) -> the claiming process's CPU clock at the claim.
_claimed_cpu: dict[tuple[str, int], float] = {}


@dataclass(frozen=True)
class JobRunner:
    """Claim, heartbeat, finish, cancel and sweep the rows of one kind of job.

    `enqueue(job)` sends the task for one row; the sweep calls it (on commit) for a queued row
    nobody picked up. `on_lost(job)`, if given, cleans up after a row the sweep failed (its
    partial output, rows it logged). `heartbeat_seconds` bounds how often a bare heartbeat is
    written, `cancel_poll_seconds` how often the cancel flag is read. `cost_kind` (a
    core.costs kind) and `cost_owner(job) -> (model name, version number or None)` say whose
    cost a finished job's CPU time is.
    """

    kind: str
    model: type[Job]
    enqueue: Callable[[Job], None]
    label: str = ""
    on_lost: Callable[[Job], None] | None = None
    cost_kind: str = ""
    cost_owner: Callable[[Job], tuple[str, int | None]] | None = None
    heartbeat_seconds: float = 5.0
    cancel_poll_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", f"{self.kind} job")

    # --- per-kind settings ---------------------------------------------------------------

    def _setting(self, suffix: str) -> int:
        name = f"{self.kind.upper()}_{suffix}"
        try:
            return getattr(settings, name)
        except AttributeError:
            raise ImproperlyConfigured(f"{self.label}s need the {name} setting.") from None

    @property
    def heartbeat_timeout_seconds(self) -> int:
        """A RUNNING job silent for longer than this is failed by the sweep."""
        return self._setting("HEARTBEAT_TIMEOUT_SECONDS")

    @property
    def requeue_after_seconds(self) -> int:
        """A QUEUED job no worker picked up within this long is enqueued again."""
        return self._setting("REQUEUE_AFTER_SECONDS")

    def _has_field(self, name: str) -> bool:
        try:
            self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        return True

    @property
    def cancellable(self) -> bool:
        return self._has_field("cancel_requested")

    # --- the worker's side ---------------------------------------------------------------

    def claim(self, *, job_id: int, worker: str = "") -> bool:
        """QUEUED → RUNNING for this caller only; False when the row was claimed (or ended)
        already, which is what a redelivered message finds."""
        now = timezone.now()
        fields = {"status": JobStatus.RUNNING, "started_at": now, "heartbeat_at": now}
        if self._has_field("worker"):
            fields["worker"] = worker[:255]
        claimed = self.model.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(**fields)
        if claimed:
            _claimed_cpu[self.kind, job_id] = time.process_time()
        else:
            logger.info("%s %s: not queued any more, nothing to do", self.label, job_id)
        return bool(claimed)

    def pulse(self, *, job_id: int) -> JobPulse:
        """The running job's heartbeat, progress and cancel flag (one per run, per process)."""
        return JobPulse(self, job_id)

    def finish(self, *, job_id: int, status: str, reason: str = "", **fields) -> bool:
        """Write the outcome (status, `reason` into `error`, any result fields) if the row is
        still RUNNING; False when something else (the sweep) ended the job first."""
        if status not in Job.FINISHED:
            raise ValueError(f"{status!r} is not a finished status.")
        if reason:
            fields["error"] = reason[:REASON_MAX_CHARS]
        claimed_cpu = _claimed_cpu.pop((self.kind, job_id), None)
        cpu = None if claimed_cpu is None else time.process_time() - claimed_cpu
        if cpu is not None and "cpu_seconds" not in fields and self._has_field("cpu_seconds"):
            # Added: other processes (a parallel search's trial workers) add theirs too.
            fields["cpu_seconds"] = F("cpu_seconds") + cpu
        now = timezone.now()
        finished = bool(
            self.model.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
                status=status, finished_at=now, heartbeat_at=now, **fields
            )
        )
        if finished and status == JobStatus.FAILED:
            self._announce_failure(job_id, fields.get("error", ""))
        if finished and cpu is not None and self.cost_kind:
            self._report_cost(job_id, cpu)
        return finished

    def _report_cost(self, job_id: int, cpu: float) -> None:
        job = self.model.objects.get(pk=job_id)
        model_name, version = self.cost_owner(job) if self.cost_owner else ("", None)
        cpu_report(
            self.cost_kind,
            key=f"{self.cost_kind}:job:{job_id}",
            started_at=job.started_at or job.finished_at,
            ended_at=job.finished_at,
            cpu_seconds=cpu,
            model_name=model_name,
            version=version,
            source=f"{self.label} {job_id}",
            source_id=job_id,
            detail={"status": job.status},
            mode="set",
        )

    def _announce_failure(self, job_id: int, reason: str) -> None:
        emit(
            "job.failed",
            summary=f"{self.label.capitalize()} {job_id} failed: {reason}",
            data={"kind": self.label, "id": job_id},
        )

    def cancel_requested(self, *, job_id: int) -> bool:
        """A fresh read of the cancel flag (a JobPulse reads it at most once a second)."""
        return bool(
            self.model.objects.filter(pk=job_id).values_list("cancel_requested", flat=True).first()
        )

    # --- the person's side ---------------------------------------------------------------

    def cancel(self, *, job: Job) -> Job:
        """A queued job is cancelled at once; a running one is asked to stop and ends
        CANCELLED when its worker notices. Raises Conflict when the job already ended."""
        if not self.cancellable:
            raise TypeError(f"{self.label}s cannot be cancelled: no cancel_requested field.")
        rows = self.model.objects.filter(pk=job.pk)
        now = timezone.now()
        ended = rows.filter(status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED,
            cancel_requested=True,
            finished_at=now,
            error="Cancelled before it started.",
        )
        asked = ended or rows.filter(status=JobStatus.RUNNING).update(cancel_requested=True)
        job.refresh_from_db()
        if not asked:
            raise Conflict(
                f"{self.label.capitalize()} {job.pk} has already finished ({job.status})."
            )
        return job

    # --- Beat's side ---------------------------------------------------------------------

    def sweep(self) -> dict:
        """Fail RUNNING jobs whose worker went silent (then clean up after each); re-enqueue
        QUEUED jobs no worker picked up (the claim makes a duplicate delivery a no-op)."""
        now = timezone.now()
        timeout = self.heartbeat_timeout_seconds
        stale_before = now - timedelta(seconds=timeout)
        lost = 0
        for job in self.model.objects.filter(
            status=JobStatus.RUNNING, heartbeat_at__lt=stale_before
        ):
            # Conditional again: the worker may have finished or beaten since the read.
            failed = self.model.objects.filter(
                pk=job.pk, status=JobStatus.RUNNING, heartbeat_at__lt=stale_before
            ).update(
                status=JobStatus.FAILED,
                finished_at=now,
                error=f"Worker lost: no heartbeat for more than {timeout} s.",
            )
            if failed:
                lost += 1
                self._announce_failure(
                    job.pk, f"Worker lost: no heartbeat for more than {timeout} s."
                )
                if self.on_lost is not None:
                    self.on_lost(job)
        waiting = list(
            self.model.objects.filter(
                status=JobStatus.QUEUED,
                created_at__lt=now - timedelta(seconds=self.requeue_after_seconds),
            )
        )
        for job in waiting:
            transaction.on_commit(partial(self.enqueue, job))
        if lost or waiting:
            logger.warning(
                "stale %ss: %s failed as lost, %s re-enqueued", self.label, lost, len(waiting)
            )
        return {"failed_lost": lost, "requeued": len(waiting)}


class JobPulse:
    """A running job's link to its row: heartbeat, progress and the cancel flag.

    A bare heartbeat is written at most every `heartbeat_seconds` (callers may beat in a tight
    loop). Progress is written at once, with a heartbeat: callers report it at steps already
    coarse (a trial, a chunk of rows), and it is what the person watches. Both only touch an
    unfinished row, so a job the sweep ended keeps its outcome. The cancel flag is read at most
    every `cancel_poll_seconds` and, once seen, stays seen.
    """

    def __init__(self, runner: JobRunner, job_id: int):
        self.runner = runner
        self.job_id = job_id
        self._rows = runner.model.objects.filter(pk=job_id, status__in=UNFINISHED)
        self._last_beat = 0.0
        self._last_poll = 0.0
        self._cancelled = False

    def beat(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_beat >= self.runner.heartbeat_seconds:
            self._rows.update(heartbeat_at=timezone.now())
            self._last_beat = now

    def progress(self, **fields) -> None:
        self._rows.update(heartbeat_at=timezone.now(), **fields)
        self._last_beat = time.monotonic()

    def cancel_requested(self) -> bool:
        """True once a person asked the job to stop, or once its row is gone."""
        if not self.runner.cancellable:
            return False
        now = time.monotonic()
        if not self._cancelled and now - self._last_poll >= self.runner.cancel_poll_seconds:
            self._last_poll = now
            flag = (
                self.runner.model.objects.filter(pk=self.job_id)
                .values_list("cancel_requested", flat=True)
                .first()
            )
            self._cancelled = flag is not False
        return self._cancelled
