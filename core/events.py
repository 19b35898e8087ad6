"""Things that happened, announced once by the app where they happen.

An app calls `emit(kind, ...)` (registry: a version registered or changing stage; monitoring:
drift found, a retraining started or finished; abtests: a test started, decided or rolled
back; core.jobs: a job failed). The event goes out on commit, so a rolled-back transaction
announces nothing. The monitoring app listens (`event_happened`) and records it as an Event
row, the feed on the dashboard and the model pages, and queues its webhook deliveries. No app
imports another for this.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

# Receivers get kind, model_name, version (number or None), summary, data.
event_happened = Signal()

KINDS = {
    "version.registered": "A version was registered",
    "version.promoted": "A version was promoted to production",
    "version.staged": "A version moved to staging",
    "version.archived": "A version was archived",
    "version.rolled_back": "Production was rolled back to an earlier version",
    "drift.detected": "A drift check found drift or a performance drop",
    "retraining.started": "A retraining started",
    "retraining.finished": "A retraining finished",
    "abtest.started": "An A/B test started",
    "abtest.decided": "An A/B test was decided or stopped",
    "job.failed": "A job failed",
}


def emit(
    kind: str,
    *,
    summary: str,
    model_name: str = "",
    version: int | None = None,
    data: dict | None = None,
) -> None:
    """Announce `kind` once the current transaction commits (at once outside one)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown event kind {kind!r}.")
    payload = {
        "kind": kind,
        "model_name": model_name,
        "version": version,
        "summary": summary[:500],
        "data": data or {},
    }
    transaction.on_commit(lambda: event_happened.send(sender=kind, **payload))
