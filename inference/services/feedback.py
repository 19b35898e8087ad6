"""Ground truth: labels recorded against logged predictions."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotFound
from inference.models import PredictionLog
from inference.serving.logwriter import log_writer
from inference.serving.tally import TallyDelta, tally_apply


@dataclass
class FeedbackOutcome:
    prediction_id: str
    status: str  # "recorded", "unchanged", "overwritten", "not_found", "invalid", "conflict"
    detail: str = ""
    correct: bool | None = None

    def as_dict(self) -> dict:
        body = {"prediction_id": self.prediction_id, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.correct is not None:
            body["correct"] = self.correct
        return body


def _parse_id(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _label_text(label) -> str | None:
    """Labels compare as text, as training stored them ("1" for 1 or 1.0)."""
    if isinstance(label, bool) or label is None:
        return None
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    if isinstance(label, str | int | float):
        return str(label)
    return None


# A prediction id (UUIDv7) made this recently may still sit in a web process's log buffer.
RECENT_ID_MS = 10_000


def _await_recent(ids: set[uuid.UUID]) -> None:
    """Wait (up to a few flush intervals) until the recent ones among `ids` are in the log.

    The API's log rows reach the table up to PREDICTION_LOG_FLUSH_SECONDS after their
    response (inference.serving.logwriter), and a client may send the label at once. The id's own
    timestamp says whether that can be the case, so older or forged ids cost nothing here.
    """
    if not settings.PREDICTION_LOG_BUFFERED or connection.vendor != "postgresql":
        return
    now_ms = time.time_ns() // 1_000_000
    recent = {
        pid for pid in ids if pid.version == 7 and -1_000 <= now_ms - (pid.int >> 80) < RECENT_ID_MS
    }
    if not recent:
        return
    log_writer.flush(timeout=2.0)  # this process's own buffer
    deadline = time.monotonic() + 3 * settings.PREDICTION_LOG_FLUSH_SECONDS + 0.5
    while True:
        recent -= set(PredictionLog.objects.filter(id__in=recent).values_list("id", flat=True))
        if not recent or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def feedback_record(*, prediction_id, label, overwrite: bool = False) -> FeedbackOutcome:
    """Record the true label of one prediction. Raises NotFound, InvalidInput or Conflict."""
    outcome = feedback_record_bulk(
        items=[{"prediction_id": prediction_id, "label": label}], overwrite=overwrite
    )[0]
    if outcome.status == "not_found":
        raise NotFound(outcome.detail, field="prediction_id")
    if outcome.status == "invalid":
        raise InvalidInput(outcome.detail, field="label")
    if outcome.status == "conflict":
        raise Conflict(outcome.detail, field="label")
    return outcome


def feedback_record_bulk(*, items: list[dict], overwrite: bool = False) -> list[FeedbackOutcome]:
    """Record many labels in one transaction; each item gets its own outcome, in order.

    1. Parse the ids; unparseable ones are "not_found" (no such prediction can exist).
    2. Load the predictions with their version's class labels, locking them.
    3. Per item: a label outside the version's classes is "invalid"; the same label again is
       "unchanged"; a different label on a labelled prediction is a "conflict" unless
       `overwrite`; else the label is written with `is_correct`.
    An id that appears twice is handled in order (the second sees the first's label).
    4. A/B tests: a labelled row an arm served adds to its tally, and its shadow rows (the
       challenger's answers in a shadow test) get the same label and add the pair.
    """
    parsed = [_parse_id(item.get("prediction_id")) for item in items]
    wanted = {pid for pid in parsed if pid is not None}
    _await_recent(wanted)
    outcomes: list[FeedbackOutcome] = []
    now = timezone.now()
    with transaction.atomic():
        found = {
            p.id: p
            for p in PredictionLog.objects.select_for_update()
            .filter(id__in=wanted)
            .select_related("model_version")
        }
        changed: dict[uuid.UUID, PredictionLog] = {}
        before: dict[uuid.UUID, bool | None] = {}  # is_correct before this call (None: unlabelled)
        for item, pid in zip(items, parsed, strict=True):
            shown = str(item.get("prediction_id"))
            prediction = found.get(pid) if pid is not None else None
            if prediction is None:
                outcomes.append(FeedbackOutcome(shown, "not_found", "No such prediction."))
                continue
            classes = prediction.model_version.class_labels
            label = _label_text(item.get("label"))
            if label is None or label not in classes:
                outcomes.append(
                    FeedbackOutcome(
                        shown,
                        "invalid",
                        f"{item.get('label')!r} is not one of the model's classes "
                        f"({', '.join(classes)}).",
                    )
                )
                continue
            if prediction.label == label:
                outcomes.append(FeedbackOutcome(shown, "unchanged", correct=prediction.is_correct))
                continue
            status = "recorded"
            if prediction.label is not None:
                if not overwrite:
                    outcomes.append(
                        FeedbackOutcome(
                            shown,
                            "conflict",
                            f"Already labelled {prediction.label!r}; send overwrite=true to "
                            f"replace it with {label!r}.",
                        )
                    )
                    continue
                status = "overwritten"
            before.setdefault(prediction.id, prediction.is_correct)
            prediction.label = label
            prediction.labelled_at = now
            prediction.is_correct = prediction.prediction == label
            changed[prediction.id] = prediction
            outcomes.append(FeedbackOutcome(shown, status, correct=prediction.is_correct))
        if changed:
            rows = list(changed.values())
            rows += _label_and_tally(rows, before, now)
            PredictionLog.objects.bulk_update(
                rows, ["label", "labelled_at", "is_correct"], batch_size=1000
            )
    return outcomes


def _label_and_tally(
    labelled: list[PredictionLog], before: dict[uuid.UUID, bool | None], now
) -> list[PredictionLog]:
    """Add the labels to their versions' (and A/B arms') tallies; in shadow tests, label the
    shadow rows the same and tally the pairs. Returns the shadow rows to save. Runs in the
    caller's transaction."""
    deltas = []
    for p in labelled:
        old = before[p.id]
        deltas.append(
            TallyDelta(
                p.ab_test_id or 0,
                p.arm,
                p.model_version_id,
                labelled=int(old is None),
                correct=int(bool(p.is_correct)) - int(bool(old)),
            )
        )
    by_id = {p.id: p for p in labelled if p.ab_test_id is not None}
    shadows = (
        list(
            PredictionLog.objects.select_for_update()
            .filter(shadow_of__in=list(by_id))
            .order_by("id")
        )
        if by_id
        else []
    )
    for s in shadows:
        answered = by_id[s.shadow_of]
        s_old, a_old = s.is_correct, before[answered.id]
        s.label, s.labelled_at = answered.label, now
        s.is_correct = s.prediction == answered.label
        a_new = bool(answered.is_correct)
        deltas.append(
            TallyDelta(
                s.ab_test_id,
                s.arm,
                s.model_version_id,
                labelled=int(s_old is None),
                correct=int(s.is_correct) - int(bool(s_old)),
                pairs=int(s_old is None),
                pairs_champion_only=int(a_new and not s.is_correct)
                - int(s_old is not None and bool(a_old) and not s_old),
                pairs_challenger_only=int(s.is_correct and not a_new)
                - int(s_old is not None and bool(s_old) and not a_old),
            )
        )
    with connection.cursor() as cursor:
        tally_apply(cursor, deltas)
    return shadows
