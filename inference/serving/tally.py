"""Versions' and A/B test arms' running counts (`inference.models.PredictionTally`, and the
per-minute `ErrorTally`), added in the write path.

Each request hands its writer a `TallyDelta` with its rows (test 0, arm "" outside a test);
the writer adds the deltas in the transaction that writes the rows (one upsert per flush,
and for tests one insert of the units it saw), so a tally never counts a row the log does
not hold. Feedback adds labels the same way, in the transaction that writes them. /metrics,
the pages and an A/B evaluation then read a few tally rows, whatever the size of the log.

Deltas are summed per (test, arm, version) and applied in that order, so two writers that
touch the same tallies lock them in the same order and cannot deadlock.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from django.db import connection

TALLY_TABLE = "inference_predictiontally"
EXPOSURE_TABLE = "inference_unitexposure"
ERROR_TABLE = "inference_errortally"
USAGE_TABLE = "inference_usagetally"


@dataclass(frozen=True, slots=True)
class TallyDelta:
    ab_test_id: int
    arm: str
    version_id: int
    requests: int = 0
    predictions: int = 0
    errors: int = 0
    # A test's request's unit: its keyed hash, or "" for a request that is its own unit. Only
    # requests (requests > 0) in a test (ab_test_id > 0) count units; shadow rows pass
    # own_unit=False.
    unit_hash: str = ""
    own_unit: bool = True
    reason: str = ""  # with errors: why the request failed (ErrorTally, per minute)
    labelled: int = 0
    correct: int = 0
    pairs: int = 0
    pairs_champion_only: int = 0
    pairs_challenger_only: int = 0
    # The serving thread's CPU time for this request, in microseconds (core.costs): added per
    # version and minute to UsageTally with the request's rows.
    cpu_us: int = 0


COUNTS = (
    "requests",
    "predictions",
    "units",
    "errors",
    "labelled",
    "correct",
    "pairs",
    "pairs_champion_only",
    "pairs_challenger_only",
)
_SUMMED = tuple(f.name for f in fields(TallyDelta) if f.name in COUNTS)


def _upsert_sql(n: int) -> str:
    columns = ("ab_test_id", "arm", "model_version_id", *COUNTS)
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    updates = ", ".join(f"{c} = {TALLY_TABLE}.{c} + excluded.{c}" for c in COUNTS)
    return (
        f"INSERT INTO {TALLY_TABLE} ({', '.join(columns)}) VALUES {', '.join([row] * n)} "
        f"ON CONFLICT (ab_test_id, arm, model_version_id) DO UPDATE SET {updates}"
    )


def tally_apply(cursor, deltas: Iterable[TallyDelta]) -> None:
    """Add `deltas` through `cursor` (a DB-API cursor with %s parameters), in the caller's
    transaction: first the units seen for the first time, then one upsert of the sums."""
    sums: dict[tuple, Counter] = defaultdict(Counter)
    units: dict[tuple[int, str], tuple] = {}  # (test, unit hash) -> its key, first seen wins
    errors: Counter = Counter()  # (version, reason) -> failed requests
    usage: dict[int, Counter] = defaultdict(Counter)  # version -> requests, predictions, cpu
    for d in deltas:
        key = (d.ab_test_id, d.arm, d.version_id)
        total = sums[key]
        for name in _SUMMED:
            value = getattr(d, name)
            if value:
                total[name] += value
        if d.errors:
            errors[d.version_id, d.reason or "error"] += d.errors
        if d.cpu_us:  # a measured request (batch jobs and feedback price themselves)
            used = usage[d.version_id]
            used["requests"] += d.requests
            used["predictions"] += d.predictions
            used["cpu_us"] += d.cpu_us
        if d.requests and d.own_unit and d.ab_test_id:
            if d.unit_hash:
                units.setdefault((d.ab_test_id, d.unit_hash), key)
            else:
                total["units"] += d.requests
    if units:
        pairs = sorted(units)
        cursor.execute(
            f"INSERT INTO {EXPOSURE_TABLE} (ab_test_id, unit_hash, arm) VALUES "
            + ", ".join(["(%s, %s, %s)"] * len(pairs))
            + " ON CONFLICT (ab_test_id, unit_hash) DO NOTHING RETURNING ab_test_id, unit_hash",
            [value for test, unit in pairs for value in (test, unit, units[test, unit][1])],
        )
        for test, unit in cursor.fetchall():
            sums[units[test, unit]]["units"] += 1
    # As Django stores a DateTimeField on this database (text on SQLite).
    minute = connection.ops.adapt_datetimefield_value(
        datetime.now(UTC).replace(second=0, microsecond=0)
    )
    if usage:
        versions = sorted(usage)
        cursor.execute(
            f"INSERT INTO {USAGE_TABLE} (model_version_id, minute, requests, predictions, cpu_us) "
            "VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s)"] * len(versions))
            + " ON CONFLICT (model_version_id, minute) DO UPDATE SET "
            f"requests = {USAGE_TABLE}.requests + excluded.requests, "
            f"predictions = {USAGE_TABLE}.predictions + excluded.predictions, "
            f"cpu_us = {USAGE_TABLE}.cpu_us + excluded.cpu_us",
            [
                v
                for version in versions
                for v in (
                    version,
                    minute,
                    usage[version]["requests"],
                    usage[version]["predictions"],
                    usage[version]["cpu_us"],
                )
            ],
        )
    if errors:
        pairs = sorted(errors)
        cursor.execute(
            f"INSERT INTO {ERROR_TABLE} (model_version_id, reason, minute, errors) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * len(pairs))
            + " ON CONFLICT (model_version_id, minute, reason) DO UPDATE SET "
            f"errors = {ERROR_TABLE}.errors + excluded.errors",
            [
                v
                for version, reason in pairs
                for v in (version, reason, minute, errors[version, reason])
            ],
        )
    keys = sorted(k for k, total in sums.items() if any(total.values()))
    if not keys:
        return
    cursor.execute(
        _upsert_sql(len(keys)),
        [v for key in keys for v in (*key, *(sums[key][c] for c in COUNTS))],
    )


class WriteCpu:
    """The serving threads' CPU time spent writing log rows (the COPY or INSERT and its
    commit, in the request's thread or the log writer's).

    A request's own CPU time goes into the tallies its rows are written with, so it stops
    at the write; the write's time is known only once its transaction is over. It is kept
    here, shared out among the versions by the rows each had in the write, and charged with
    the next write of this process (`drain`). What a process writes last before it stops
    is not charged.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._us: Counter = Counter()

    def charge(self, seconds: float, deltas: Iterable[TallyDelta]) -> None:
        rows: Counter = Counter()
        for d in deltas:
            if d.cpu_us and d.predictions:
                rows[d.version_id] += d.predictions
        total = sum(rows.values())
        if not total or seconds <= 0:
            return
        with self._lock:
            for version, n in rows.items():
                self._us[version] += int(seconds * 1e6 * n / total)

    def drain(self) -> list[TallyDelta]:
        """The CPU time waiting to be charged, as deltas (and forget it)."""
        with self._lock:
            waiting, self._us = self._us, Counter()
        return [TallyDelta(0, "", version, cpu_us=us) for version, us in waiting.items() if us]

    def pending_us(self) -> int:
        with self._lock:
            return sum(self._us.values())


write_cpu = WriteCpu()
