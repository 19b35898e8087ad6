"""The prediction log row, defined once.

`LogRow`'s fields are the columns the write path fills, in the order it writes them. From it
come the COPY column list (`LOG_COLUMNS`), the SQLite insert (`LogRow.values`), and the check
against the `PredictionLog` model (tests/inference/test_prediction_log.py: every model column
is a field here or one the feedback service fills later, with the same JSON columns). The
COPY text itself is formatted by hand for speed (`inference.services.prediction_log`), and a
test parses it back into LogRows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LogRow:
    id: str  # UUIDv7 (inference.ids)
    registered_model_id: int
    model_version_id: int
    ab_test_id: int | None  # set when a router (an A/B test) chose the version
    arm: str
    shadow_of: str | None  # the answered row's id, on a shadow test's challenger row
    unit_hash: str  # keyed hash of the caller's unit id, "" without one
    source: str  # PredictionLog.Source
    request_id: str
    features: dict  # JSON
    prediction: str
    probabilities: dict  # JSON: {class label: probability}
    unknown_categories: list  # JSON: features holding a category training never saw
    latency_ms: float
    created_at: datetime

    def values(self) -> tuple:
        """The field values in LOG_COLUMNS order."""
        return tuple(getattr(self, name) for name in LOG_COLUMNS)


LOG_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(LogRow))
JSON_COLUMNS: frozenset[str] = frozenset({"features", "probabilities", "unknown_categories"})
# Columns no prediction writes: the feedback service fills them when the truth arrives.
FEEDBACK_COLUMNS: frozenset[str] = frozenset({"label", "labelled_at", "is_correct"})
