"""Reads for the A/B test pages and API: tests, the scoreboard of a snapshot, the calculator."""

from __future__ import annotations

import math

from django.db.models import Max, QuerySet
from scipy.stats import binomtest

from abtests.models import ABTest, Decision, Snapshot
from core.errors import InvalidInput
from engine import abstats

ARM_ORDER = ("champion", "challenger", "watch")


def abtest_list() -> QuerySet[ABTest]:
    return ABTest.objects.select_related("registered_model", "champion", "challenger", "created_by")


def abtest_running_for(model_id: int) -> ABTest | None:
    return abtest_list().filter(registered_model_id=model_id, status=ABTest.Status.RUNNING).first()


def abtest_ids_needing_rows() -> list[int]:
    """Tests whose log rows retention must keep: running ones and promotions under watch."""
    return list(
        (
            ABTest.objects.filter(status=ABTest.Status.RUNNING)
            | ABTest.objects.filter(status=ABTest.Status.DECIDED, watch_until__isnull=False)
        ).values_list("id", flat=True)
    )


def abtest_latest_snapshots() -> list[tuple[int, Snapshot]]:
    """(test id, its newest snapshot) of every running test and promotion under watch."""
    live = ABTest.objects.filter(status=ABTest.Status.RUNNING) | ABTest.objects.filter(
        status=ABTest.Status.DECIDED, watch_until__isnull=False
    )
    newest = (
        Snapshot.objects.filter(test__in=live)
        .values("test_id")
        .annotate(last=Max("id"))
        .values("last")
    )
    return [(s.test_id, s) for s in Snapshot.objects.filter(pk__in=newest).order_by("test_id")]


def abtest_running_by_model() -> dict[int, ABTest]:
    """Model id -> its running test."""
    return {t.registered_model_id: t for t in abtest_list().filter(status=ABTest.Status.RUNNING)}


def abtest_snapshots(test: ABTest, phase: str = Snapshot.Phase.TEST) -> list[Snapshot]:
    return list(test.snapshots.filter(phase=phase).order_by("created_at", "id"))


def abtest_decisions_of_model(model_id: int, *, since) -> QuerySet[Decision]:
    """Decisions, promotions and rollbacks of the model's tests since `since`."""
    return Decision.objects.filter(
        test__registered_model_id=model_id,
        created_at__gte=since,
        kind__in=[Decision.Kind.DECIDED, Decision.Kind.ROLLED_BACK, Decision.Kind.STOPPED],
    ).order_by("created_at")[:500]


def abtest_decisions(test: ABTest) -> QuerySet[Decision]:
    return test.decisions.select_related("actor").order_by("created_at", "id")


def accuracy_interval(correct: int, labelled: int, level: float = 0.95):
    """Wilson score interval of one arm's accuracy (scipy's `binomtest(...).proportion_ci`),
    (None, None) without labels. Shown per arm; decisions use the always-valid interval of
    the difference."""
    if not labelled:
        return None, None
    ci = binomtest(correct, labelled).proportion_ci(confidence_level=level, method="wilson")
    return ci.low, ci.high


def scoreboard(test: ABTest, snapshot: Snapshot | None) -> list[dict]:
    """One row per arm of `snapshot`: version, served, units, labelled, accuracy with its
    interval, error rate, p95 latency, and the lift over the champion."""
    if snapshot is None:
        return []
    arms = snapshot.arms
    base = (arms.get("champion") or {}).get("accuracy")
    rows = []
    for arm in ARM_ORDER:
        figures = arms.get(arm)
        if figures is None:
            continue
        low, high = accuracy_interval(figures.get("correct", 0), figures.get("labelled", 0))
        accuracy = figures.get("accuracy")
        version = test.champion if arm == "champion" else test.challenger
        rows.append(
            {
                "arm": arm,
                "version": version.version,
                "requests": figures.get("requests", 0),
                "predictions": figures.get("predictions", 0),
                "units": figures.get("units", 0),
                "labelled": figures.get("labelled", 0),
                "accuracy": accuracy,
                "low": low,
                "high": high,
                "error_rate": figures.get("error_rate"),
                "p95_latency_ms": figures.get("p95_latency_ms"),
                "lift": None
                if arm == "champion" or accuracy is None or base is None
                else accuracy - base,
                "relative_lift": None
                if arm == "champion" or accuracy is None or not base
                else accuracy / base - 1,
            }
        )
    return rows


def sample_size(*, baseline: float, mde: float, alpha: float, power: float, share: float):
    """The calculator (`engine.abstats.sample_size`); InvalidInput names a bad input."""
    try:
        return abstats.sample_size(baseline, mde, alpha=alpha, power=power, share=share)
    except ValueError as exc:
        message = str(exc)
        field = next(
            (f for f in ("baseline", "mde", "alpha", "power", "share") if message.startswith(f)),
            None,
        )
        raise InvalidInput(message, field=field) from None


def sample_size_answer(*, baseline: float, mde: float, alpha: float, power: float, share: float):
    """The calculator's answer (InvalidInput names a bad input): labelled rows per arm at a
    fixed horizon, and where the sequential test is expected to stop."""
    result = sample_size(baseline=baseline, mde=mde, alpha=alpha, power=power, share=share)
    seq_challenger = result.sequential_per_arm
    seq_champion = math.ceil(result.sequential_total * (1 - share))
    return {
        "baseline": baseline,
        "mde": mde,
        "alpha": alpha,
        "power": power,
        "share": share,
        "per_arm": {"champion": result.champion_per_arm, "challenger": result.per_arm},
        "total": result.total,
        "sequential_per_arm": {
            "champion": seq_champion,
            "challenger": seq_challenger,
        },
    }


def abtest_decisions_of_version(version_id: int, *, limit: int = 50) -> list[dict]:
    """Decisions, promotions and rollbacks of the tests the version was in (model cards)."""
    from django.db.models import Q

    decisions = (
        Decision.objects.filter(Q(test__champion_id=version_id) | Q(test__challenger_id=version_id))
        .filter(kind__in=[Decision.Kind.DECIDED, Decision.Kind.ROLLED_BACK, Decision.Kind.STOPPED])
        .order_by("created_at")[:limit]
    )
    return [
        {"at": d.created_at, "test": d.test_id, "kind": d.kind, "sentence": d.sentence}
        for d in decisions
    ]
