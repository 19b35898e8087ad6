"""A/B test arms' running counts (`inference.models.ArmTally`), added in the write path.

Each request routed by a test hands its writer a `TallyDelta` with its rows; the writer adds
the deltas in the transaction that writes the rows (one upsert per flush, and one insert of
the units it saw), so a tally never counts a row the log does not hold. Feedback adds labels
the same way, in the transaction that writes them. An evaluation then reads a few tally
rows, whatever the size of the log.

Deltas are summed per (test, arm, version) and applied in that order, so two writers that
touch the same tallies lock them in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields

TALLY_TABLE = "inference_armtally"
EXPOSURE_TABLE = "inference_unitexposure"


@dataclass(frozen=True, slots=True)
class TallyDelta:
    ab_test_id: int
    arm: str
    version_id: int
    requests: int = 0
    predictions: int = 0
    errors: int = 0
    # A request's unit: its keyed hash, or "" for a request that is its own unit. Only
    # requests (requests > 0) have a unit; shadow rows pass own_unit=False.
    unit_hash: str = ""
    own_unit: bool = True
    labelled: int = 0
    correct: int = 0
    pairs: int = 0
    pairs_champion_only: int = 0
    pairs_challenger_only: int = 0


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
    for d in deltas:
        key = (d.ab_test_id, d.arm, d.version_id)
        total = sums[key]
        for name in _SUMMED:
            total[name] += getattr(d, name)
        if d.requests and d.own_unit:
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
    keys = sorted(k for k, total in sums.items() if any(total.values()))
    if not keys:
        return
    cursor.execute(
        _upsert_sql(len(keys)),
        [v for key in keys for v in (*key, *(sums[key][c] for c in COUNTS))],
    )
