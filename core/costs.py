"""What work cost, announced by the app that did it, priced and stored by monitoring.

Costs are measured, not guessed: each piece of work reads a CPU clock around itself and reports
the seconds it used (`cpu_report`). The monitoring app listens (`cost_incurred`), prices the
seconds at the CostRate in effect and stores a CostRecord; no app imports another for this.

Which clock:

- jobs (training, batch scoring, drift checks: `core.jobs.JobRunner`) and a training job's
  trials read `time.process_time()` of the worker process. A Celery worker child runs one task
  at a time, and a search's own threads (torch's intra-op pool) are that task's work too;
- a prediction request reads `time.thread_time()` of the thread that serves it (a threaded web
  server runs other requests in the same process at once). Those seconds travel with the
  request's tally to the log writer (`inference.serving.tally`), which adds them per version
  and minute; monitoring prices each closed interval.

Each report has a `key`. A report with a key already stored adds to it (`mode="add"`: an A/B
test's evaluations within an hour) or replaces it (`mode="set"`: an interval priced again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.dispatch import Signal

# Receivers get one CostReport as `report`.
cost_incurred = Signal()

KINDS = {
    "training": "Training",
    "drift_check": "Drift checks",
    "ab_evaluation": "A/B evaluations",
    "batch_scoring": "Batch scoring",
    "inference": "Inference",
    "storage": "Storage",
}


@dataclass(frozen=True)
class CostReport:
    kind: str
    key: str
    started_at: datetime
    ended_at: datetime
    cpu_seconds: float = 0.0
    bytes: int = 0  # storage: bytes held over the period
    predictions: int = 0  # inference: predictions served in the period
    model_name: str = ""
    version: int | None = None
    source: str = ""  # what it was: "training job 12", "drift check 7", ...
    source_id: int | None = None  # that job's (or test's) id
    detail: dict | None = None
    mode: str = "add"


def cpu_report(kind: str, **fields) -> None:
    """Announce a cost once the current transaction commits (at once outside one)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown cost kind {kind!r}.")
    report = CostReport(kind=kind, **fields)
    transaction.on_commit(lambda: cost_incurred.send(sender=kind, report=report))


@dataclass
class CpuMeter:
    """The CPU seconds of the work inside `cpu_meter()`: `seconds` is final once it exits."""

    clock: object
    start: float
    seconds: float = 0.0

    def read(self) -> float:
        return self.clock() - self.start


@contextmanager
def cpu_meter(*, thread: bool = False) -> Iterator[CpuMeter]:
    """Measure the process's CPU seconds (the thread's, with `thread=True`) over a block."""
    clock = time.thread_time if thread else time.process_time
    meter = CpuMeter(clock, clock())
    try:
        yield meter
    finally:
        meter.seconds = meter.read()
