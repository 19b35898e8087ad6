"""A/B tests: start, route, evaluate, decide, promote, watch, roll back.

1. `abtest_create` starts a test of a model's production version (champion) against another
   of its versions (challenger). At most one runs per model (a database constraint).
2. `ab_router`, registered with inference's routing, picks the arm of every request that
   names no version: a keyed hash of (test, unit) against the challenger's share in split
   mode; in shadow mode the champion answers and the challenger scores the same rows.
3. `abtest_evaluate` (Beat every ABTEST_EVALUATE_SECONDS, or on demand) reads the arms'
   tallies, which the prediction log's writers and the feedback service keep, runs the
   statistics (`engine.abstats`), stores a Snapshot, and decides when the always-valid
   p-value is below alpha, each arm has its minimum of labelled rows, the sample ratio
   matches the plan and the guardrails hold; or stops at the maximum duration with "no
   difference found". Under the test row's lock: two evaluations decide once.
4. A win with auto-promote moves the challenger to production through the registry's one
   transition service, with the decision as its evidence. For `watch_hours` the new
   production version's traffic is tagged (arm "watch") and compared with the old champion's
   figures from the test; a significant accuracy drop or a guardrail breach rolls back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from abtests.models import ABTest, Decision, Snapshot
from core.costs import cpu_meter, cpu_report
from core.errors import Conflict, DomainError, InvalidInput
from core.events import emit
from engine import abstats
from inference.selectors import arm_latency_p95, arm_tallies, usage_totals
from inference.services import Route, model_cache
from registry.selectors import Stage, model_version_production_of
from registry.services import model_version_transition

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER, WATCH = "champion", "challenger", "watch"
BATCH_SOURCE = "batch"  # inference's PredictionLog.Source.BATCH
# The latency guardrail needs this many requests in each arm before it can fail.
GUARDRAIL_MIN_REQUESTS = 100


def _actor_label(actor) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else "system"


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


# -- starting and stopping ----------------------------------------------------------------------


def abtest_create(
    *,
    challenger,
    mode: str = ABTest.Mode.SPLIT,
    actor=None,
    origin: str = ABTest.Origin.MANUAL,
    start: bool = True,
    **options,
) -> ABTest:
    """A test of `challenger` against its model's production version, running unless
    `start` is False. Options are ABTest's settings (challenger_share, alpha, mde, ...).
    Raises InvalidInput (a bad setting, no production version, the champion itself) or
    Conflict (a test already runs or watches for the model)."""
    model = challenger.registered_model
    champion = model_version_production_of(model.pk)
    if champion is None:
        raise InvalidInput(
            f"Model {model.name!r} has no production version to test against.",
            field="challenger",
        )
    if champion.pk == challenger.pk:
        raise InvalidInput(
            f"{challenger} is the production version; choose another version to test.",
            field="challenger",
        )
    if challenger.stage == Stage.ARCHIVED:
        raise InvalidInput(f"{challenger} is archived; it cannot serve.", field="challenger")
    if challenger.integrity_error:
        raise InvalidInput(
            f"{challenger} failed its artifact checksums and cannot serve.", field="challenger"
        )
    test = ABTest(
        registered_model=model,
        champion=champion,
        challenger=challenger,
        mode=mode,
        origin=origin,
        created_by=_actor(actor),
        **options,
    )
    try:
        test.full_clean(exclude=["registered_model", "champion", "challenger", "created_by"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(f"{field}: {messages[0]}", field=field) from None
    try:
        with transaction.atomic():
            _refuse_while_watching(model.pk)
            if start:
                test.status = ABTest.Status.RUNNING
                test.started_at = timezone.now()
            test.save()
    except IntegrityError:
        raise Conflict(
            f"An A/B test of {model.name!r} is already running; stop it first."
        ) from None
    if start:
        transaction.on_commit(running_tests.clear)
        _announce_start(test)
    logger.info("%s created (%s, %s)", test, test.mode, test.status)
    return test


def _refuse_while_watching(model_id: int) -> None:
    watching = ABTest.objects.filter(
        registered_model_id=model_id, watch_until__gt=timezone.now(), status=ABTest.Status.DECIDED
    ).first()
    if watching is not None:
        raise Conflict(
            f"{watching} promoted its challenger and watches it until "
            f"{watching.watch_until:%Y-%m-%d %H:%M}; a new test may start after that."
        )


def abtest_start(*, test: ABTest, actor=None) -> ABTest:
    """Start a draft (its champion is the production version now)."""
    with transaction.atomic():
        locked = ABTest.objects.select_for_update().get(pk=test.pk)
        if locked.status != ABTest.Status.DRAFT:
            raise Conflict(f"{locked} is {locked.get_status_display().lower()}, not a draft.")
        champion = model_version_production_of(locked.registered_model_id)
        if champion is None or champion.pk == locked.challenger_id:
            raise InvalidInput("The model's production version changed; create a new test.")
        _refuse_while_watching(locked.registered_model_id)
        locked.champion = champion
        locked.status = ABTest.Status.RUNNING
        locked.started_at = timezone.now()
        try:
            with transaction.atomic():
                locked.save(update_fields=["champion", "status", "started_at"])
        except IntegrityError:
            raise Conflict(f"An A/B test of {locked.registered_model.name!r} is running.") from None
        _announce_start(locked)
    transaction.on_commit(running_tests.clear)
    return locked


def abtest_stop(*, test: ABTest, actor=None, reason: str = "") -> ABTest:
    """Stop a running test by hand (or a draft); nothing is promoted."""
    with transaction.atomic():
        locked = ABTest.objects.select_for_update().get(pk=test.pk)
        if locked.status not in (ABTest.Status.RUNNING, ABTest.Status.DRAFT):
            raise Conflict(f"{locked} is {locked.get_status_display().lower()}; it has ended.")
        sentence = f"Stopped by {_actor_label(actor)}" + (f": {reason}" if reason else ".")
        _end(locked, ABTest.Status.STOPPED, ABTest.Outcome.STOPPED, sentence)
        _record(locked, Decision.Kind.STOPPED, sentence, actor=actor, snapshot=_latest(locked))
    transaction.on_commit(running_tests.clear)
    return locked


def _announce_start(test: ABTest) -> None:
    emit(
        "abtest.started",
        model_name=test.registered_model.name,
        version=test.challenger.version,
        summary=f"{test} started ({test.get_mode_display().lower()}): v"
        f"{test.challenger.version} against v{test.champion.version}",
        data={"ab_test": test.pk, "mode": test.mode},
    )


def _end(test: ABTest, status: str, outcome: str, summary: str) -> None:
    test.status, test.outcome, test.summary = status, outcome, summary
    test.ended_at = timezone.now()
    test.save(update_fields=["status", "outcome", "summary", "ended_at"])
    emit(
        "abtest.decided",
        model_name=test.registered_model.name,
        version=test.challenger.version,
        summary=f"{test}: {summary}",
        data={"ab_test": test.pk, "status": status, "outcome": outcome},
    )


def _record(test, kind, sentence, *, actor=None, snapshot=None, evidence=None) -> Decision:
    return Decision.objects.create(
        test=test,
        kind=kind,
        outcome=test.outcome,
        snapshot=snapshot,
        sentence=sentence,
        evidence=evidence if evidence is not None else _evidence(test, snapshot),
        actor=_actor(actor),
        actor_label=_actor_label(actor),
    )


def _latest(test: ABTest, phase: str = Snapshot.Phase.TEST) -> Snapshot | None:
    return test.snapshots.filter(phase=phase).order_by("-created_at", "-id").first()


def _evidence(test: ABTest, snapshot: Snapshot | None) -> dict:
    body = {
        "ab_test": test.pk,
        "mode": test.mode,
        "champion_version": test.champion.version,
        "challenger_version": test.challenger.version,
        "alpha": test.alpha,
    }
    if snapshot is not None:
        body.update(
            snapshot=snapshot.pk,
            arms=snapshot.arms,
            difference=snapshot.difference,
            interval=[snapshot.low, snapshot.high],
            p_value=snapshot.p_value,
            prob_better=snapshot.prob_better,
            srm_p_value=snapshot.srm_p_value,
        )
    return body


# -- routing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningTest:
    id: int
    mode: str
    share: float
    champion_id: int
    challenger_id: int
    challenger_version: int
    watch: bool  # promoted, in its watch period: tag production's traffic as arm "watch"


class RunningTests:
    """Model name -> its running (or watching) test, per process, re-read every
    ABTEST_ROUTER_TTL_SECONDS: one query per interval, none per request. A test started or
    stopped here clears it at once; other processes see it within the interval."""

    def __init__(self) -> None:
        self._by_model: dict[str, RunningTest] = {}
        self._expires = 0.0
        self._lock = threading.Lock()

    def get(self, model_name: str) -> RunningTest | None:
        if time.monotonic() >= self._expires:
            self._refresh()
        return self._by_model.get(model_name)

    def clear(self) -> None:
        self._expires = 0.0

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() < self._expires:
                return
            now = timezone.now()
            tests = ABTest.objects.filter(status=ABTest.Status.RUNNING) | ABTest.objects.filter(
                status=ABTest.Status.DECIDED, watch_until__gt=now
            )
            rows = tests.values_list(
                "id",
                "mode",
                "challenger_share",
                "champion_id",
                "challenger_id",
                "challenger__version",
                "status",
                "registered_model__name",
            )
            self._by_model = {
                name: RunningTest(
                    id=pk,
                    mode=mode,
                    share=share,
                    champion_id=champion,
                    challenger_id=challenger,
                    challenger_version=number,
                    watch=status == ABTest.Status.DECIDED,
                )
                for pk, mode, share, champion, challenger, number, status, name in rows
            }
            self._expires = time.monotonic() + settings.ABTEST_ROUTER_TTL_SECONDS


running_tests = RunningTests()


def assignment(test_id: int, unit_hash: str) -> float:
    """The unit's point in [0, 1) for this test: sha256 of (test id, the unit's keyed hash),
    so it is the same for the test's whole life and independent between tests. A request
    without a unit is its own unit: a fresh random point."""
    if not unit_hash:
        return random.random()
    digest = hashlib.sha256(f"{test_id}:{unit_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def ab_router(request, target) -> Route | None:
    """inference's routing hook: the arm for a request that names no version. Batch
    scoring is offline work, not live traffic: it keeps production."""
    if request.source == BATCH_SOURCE:
        return None
    test = running_tests.get(request.model_name)
    if test is None:
        return None
    if test.watch:
        if target.version_id != test.challenger_id:
            return None
        return Route(target=target, ab_test_id=test.id, arm=WATCH)
    if target.version_id != test.champion_id:
        return None  # production moved under the test; the evaluation stops it
    if test.mode == ABTest.Mode.SHADOW:
        shadow = _challenger_target(request.model_name, test)
        if shadow is None:
            return Route(target=target, ab_test_id=test.id, arm=CHAMPION)
        return Route(
            target=target, ab_test_id=test.id, arm=CHAMPION, shadow=shadow, shadow_arm=CHALLENGER
        )
    if assignment(test.id, request.unit_hash) < test.share:
        challenger = _challenger_target(request.model_name, test)
        if challenger is not None:
            return Route(target=challenger, ab_test_id=test.id, arm=CHALLENGER)
    return Route(target=target, ab_test_id=test.id, arm=CHAMPION)


def _challenger_target(model_name: str, test: RunningTest):
    try:
        return model_cache.resolve(model_name, version=test.challenger_version)
    except DomainError as exc:
        # Served by the champion: the sample-ratio check then shows the mismatch.
        logger.warning("A/B test %s: challenger unavailable: %s", test.id, exc)
        return None


# -- evaluation ---------------------------------------------------------------------------------


def _arm_figures(test_id: int, tallies: dict, arm: str) -> dict:
    t = tallies[arm]
    attempts = t["requests"] + t["errors"]
    return {
        **t,
        "accuracy": t["correct"] / t["labelled"] if t["labelled"] else None,
        "error_rate": t["errors"] / attempts if attempts else None,
        "p95_latency_ms": arm_latency_p95(
            ab_test_id=test_id, arm=arm, last=settings.ABTEST_LATENCY_WINDOW_ROWS
        ),
    }


def _guardrails(test: ABTest, base: dict, other: dict) -> list[dict]:
    """Each guardrail: the challenger (or watched) arm's value, the limit the champion's sets,
    and whether it holds. Too little traffic holds (and says so)."""
    rails = []
    enough = min(base["requests"], other["requests"]) >= GUARDRAIL_MIN_REQUESTS
    if base["p95_latency_ms"] is not None and other["p95_latency_ms"] is not None:
        limit = base["p95_latency_ms"] * (1 + test.max_latency_increase)
        rails.append(
            {
                "name": "p95 latency (ms)",
                "value": other["p95_latency_ms"],
                "champion": base["p95_latency_ms"],
                "limit": limit,
                "holds": not enough or other["p95_latency_ms"] <= limit,
                "enough": enough,
            }
        )
    if test.max_cost_increase is not None:
        rails += _cost_guardrail(test)
    if base["error_rate"] is not None and other["error_rate"] is not None:
        limit = base["error_rate"] + test.max_error_rate_increase
        rails.append(
            {
                "name": "error rate",
                "value": other["error_rate"],
                "champion": base["error_rate"],
                "limit": limit,
                "holds": not enough or other["error_rate"] <= limit,
                "enough": enough,
            }
        )
    return rails


def _cost_guardrail(test: ABTest) -> list[dict]:
    """Inference cost per 1,000 predictions of the challenger against the champion, from the
    serving CPU time each version's requests used since the test started (core.costs)."""
    from monitoring.services import cost_rate

    started = (test.started_at or test.created_at).replace(second=0, microsecond=0)
    usage = usage_totals(version_ids=[test.champion_id, test.challenger_id], since=started)
    price, currency = cost_rate("cpu_hour")

    def per_1k(version_id: int) -> tuple[float | None, int]:
        predictions, cpu_us = usage.get(version_id, (0, 0))
        if not predictions:
            return None, 0
        return cpu_us / 1e6 / 3600 * float(price) / predictions * 1000, predictions

    base, n_base = per_1k(test.champion_id)
    other, n_other = per_1k(test.challenger_id)
    if base is None or other is None:
        return []
    enough = min(n_base, n_other) >= GUARDRAIL_MIN_REQUESTS
    limit = base * (1 + test.max_cost_increase)
    return [
        {
            "name": f"cost per 1,000 predictions ({currency})",
            "value": other,
            "champion": base,
            "limit": limit,
            "holds": not enough or other <= limit,
            "enough": enough,
        }
    ]


def _previous(test: ABTest, phase: str):
    last = _latest(test, phase)
    if last is None or "sequential" not in last.stats:
        return None
    return abstats.SequentialResult(**last.stats["sequential"])


def _statistics(test: ABTest, a: dict, b: dict, phase: str) -> dict:
    tau2 = abstats.default_tau2(test.mde)
    previous = _previous(test, phase)
    paired = test.mode == ABTest.Mode.SHADOW and phase == Snapshot.Phase.TEST
    if paired:
        seq = abstats.paired(
            b["pairs"],
            b["pairs_champion_only"],
            b["pairs_challenger_only"],
            tau2=tau2,
            alpha=test.alpha,
            previous=previous,
        )
    else:
        seq = abstats.two_sample(
            a["labelled"],
            a["correct"],
            b["labelled"],
            b["correct"],
            tau2=tau2,
            alpha=test.alpha,
            previous=previous,
        )
    z = abstats.z_test(a["labelled"], a["correct"], b["labelled"], b["correct"], alpha=test.alpha)
    bayes = abstats.beta_binomial(a["labelled"], a["correct"], b["labelled"], b["correct"])
    stats = {
        "sequential": dataclasses.asdict(seq),
        "test": "paired" if paired else "two_sample",
        "z_test": dataclasses.asdict(z),
        "bayes": dataclasses.asdict(bayes),
    }
    if paired:
        stats["mcnemar_p_value"] = abstats.mcnemar_exact(
            b["pairs_champion_only"], b["pairs_challenger_only"]
        )
    return stats


def _snapshot(test: ABTest, phase: str, arms: dict, stats: dict, srm_p_value=None) -> Snapshot:
    seq = stats["sequential"]
    return Snapshot.objects.create(
        test=test,
        phase=phase,
        arms=arms,
        difference=seq["estimate"],
        low=seq["low"],
        high=seq["high"],
        p_value=seq["p_value"],
        prob_better=stats["bayes"]["prob_b_better"],
        srm_p_value=srm_p_value,
        stats=stats,
    )


def abtest_evaluate(*, test_id: int, actor=None) -> Snapshot | None:
    """Evaluate one test now (see the module docstring); None when it is not running or
    watching. The snapshot's `stats["blocked_by"]` says what held a decision back.

    Its CPU time is the test's cost, one record per test and hour (core.costs)."""
    with cpu_meter() as meter:
        snapshot = _evaluate(test_id, actor)
    if snapshot is not None:
        test = snapshot.test
        hour = timezone.now().replace(minute=0, second=0, microsecond=0)
        cpu_report(
            "ab_evaluation",
            key=f"ab_evaluation:test:{test.pk}:{hour:%Y-%m-%dT%H}",
            started_at=hour,
            ended_at=hour + timedelta(hours=1),
            cpu_seconds=meter.seconds,
            model_name=test.registered_model.name,
            version=test.challenger.version,
            source=f"A/B test {test.pk}",
            source_id=test.pk,
            mode="add",
        )
    return snapshot


def _evaluate(test_id: int, actor) -> Snapshot | None:
    with transaction.atomic():
        test = (
            ABTest.objects.select_for_update()
            .select_related("registered_model", "champion", "challenger")
            .filter(pk=test_id)
            .first()
        )
        if test is None:
            return None
        if test.status == ABTest.Status.RUNNING:
            return _evaluate_running(test, actor)
        if test.status == ABTest.Status.DECIDED and test.watch_until is not None:
            return _evaluate_watch(test, actor)
    return None


def _evaluate_running(test: ABTest, actor) -> Snapshot | None:
    production = model_version_production_of(test.registered_model_id)
    if production is None or production.pk != test.champion_id:
        sentence = (
            f"Stopped: champion v{test.champion.version} left production"
            + (f" (v{production.version} serves now)" if production else "")
            + "; the test no longer compares what serves."
        )
        _end(test, ABTest.Status.STOPPED, ABTest.Outcome.STOPPED, sentence)
        _record(test, Decision.Kind.STOPPED, sentence, snapshot=_latest(test))
        transaction.on_commit(running_tests.clear)
        return None
    tallies = arm_tallies(ab_test_id=test.pk, arms=(CHAMPION, CHALLENGER))
    a = _arm_figures(test.pk, tallies, CHAMPION)
    b = _arm_figures(test.pk, tallies, CHALLENGER)
    stats = _statistics(test, a, b, Snapshot.Phase.TEST)
    seq = stats["sequential"]
    blocked = []
    if test.mode == ABTest.Mode.SPLIT:
        srm = abstats.srm([a["units"], b["units"]], list(test.planned_shares))
        stats["srm"] = dataclasses.asdict(srm)
        if srm.blocked:
            blocked.append(
                f"sample-ratio mismatch: {a['units']:,} / {b['units']:,} units against a planned "
                f"{test.planned_shares[0]:.0%} / {test.planned_shares[1]:.0%} "
                f"(p = {srm.p_value:.2g} < {abstats.SRM_ALPHA}); no decision until it is explained"
            )
    else:
        srm = None
    rails = _guardrails(test, a, b)
    stats["guardrails"] = rails
    have = b["pairs"] if test.mode == ABTest.Mode.SHADOW else min(a["labelled"], b["labelled"])
    if have < test.min_labelled_per_arm:
        what = "labelled pairs" if test.mode == ABTest.Mode.SHADOW else "labelled rows per arm"
        blocked.append(f"{have:,} of {test.min_labelled_per_arm:,} {what}")
    if not seq["significant"]:
        blocked.append(f"always-valid p = {seq['p_value']:.3g} is not below {test.alpha}")
    stats["blocked_by"] = blocked
    snapshot = _snapshot(
        test,
        Snapshot.Phase.TEST,
        {CHAMPION: a, CHALLENGER: b},
        stats,
        srm_p_value=srm.p_value if srm is not None else None,
    )
    if not blocked:
        _decide(test, snapshot, a, b, rails, actor)
    elif timezone.now() >= test.started_at + timedelta(hours=test.max_duration_hours):
        sentence = (
            f"No difference found between v{test.champion.version} and "
            f"v{test.challenger.version} in {test.max_duration_hours} h "
            f"({_counts_text(test, a, b)}; {_interval_text(seq, test.alpha)}); the champion "
            "stays."
        )
        _end(test, ABTest.Status.STOPPED, ABTest.Outcome.NO_DIFFERENCE, sentence)
        _record(test, Decision.Kind.DECIDED, sentence, actor=actor, snapshot=snapshot)
        transaction.on_commit(running_tests.clear)
    return snapshot


def _points(x: float) -> str:
    return f"{x * 100:+.1f} points"


def _interval_text(seq: dict, alpha: float) -> str:
    return f"always-valid {1 - alpha:.0%} interval {_points(seq['low'])} to {_points(seq['high'])}"


def _counts_text(test: ABTest, a: dict, b: dict) -> str:
    if test.mode == ABTest.Mode.SHADOW:
        return f"{b['pairs']:,} labelled pairs"
    return f"{a['labelled'] + b['labelled']:,} labelled predictions"


def _decide(test: ABTest, snapshot: Snapshot, a: dict, b: dict, rails, actor) -> None:
    seq = snapshot.stats["sequential"]
    interval = _interval_text(seq, test.alpha)
    counts = _counts_text(test, a, b)
    broken = [r for r in rails if not r["holds"]]
    if seq["estimate"] < 0:
        outcome = ABTest.Outcome.CHAMPION_BETTER
        sentence = (
            f"Champion v{test.champion.version} is better: challenger v{test.challenger.version} "
            f"is {_points(seq['estimate'])} of accuracy ({interval}) after {counts}; "
            "the champion stays."
        )
    elif broken:
        outcome = ABTest.Outcome.GUARDRAIL
        rail = broken[0]
        sentence = (
            f"Challenger v{test.challenger.version} is more accurate ({_points(seq['estimate'])}, "
            f"{interval}) but breaks the {rail['name']} guardrail ({rail['value']:.3g} against "
            f"a limit of {rail['limit']:.3g}); not promoted."
        )
    else:
        outcome = ABTest.Outcome.CHALLENGER_BETTER
        sentence = (
            f"Challenger v{test.challenger.version} is better: {_points(seq['estimate'])} of "
            f"accuracy ({interval}) after {counts}"
        )
        sentence += "; promoted automatically." if test.auto_promote else "; promote it by hand."
    _end(test, ABTest.Status.DECIDED, outcome, sentence)
    decision = _record(test, Decision.Kind.DECIDED, sentence, actor=actor, snapshot=snapshot)
    transaction.on_commit(running_tests.clear)
    logger.info("%s decided: %s", test, sentence)
    if outcome == ABTest.Outcome.CHALLENGER_BETTER and test.auto_promote:
        _promote(test, decision, actor=actor)


def abtest_promote(*, test: ABTest, actor=None, reason: str = "") -> ABTest:
    """Promote the challenger by hand: a running test is decided for it first (with the
    latest snapshot as its evidence); a decided one is promoted if it has not been."""
    with transaction.atomic():
        locked = (
            ABTest.objects.select_for_update()
            .select_related("registered_model", "champion", "challenger")
            .get(pk=test.pk)
        )
        if locked.promoted_at is not None:
            raise Conflict(f"{locked} already promoted v{locked.challenger.version}.")
        if locked.status not in (ABTest.Status.RUNNING, ABTest.Status.DECIDED):
            raise Conflict(f"{locked} is {locked.get_status_display().lower()}.")
        snapshot = _latest(locked)
        sentence = f"Challenger v{locked.challenger.version} promoted by {_actor_label(actor)}" + (
            f": {reason}" if reason else "."
        )
        if locked.status == ABTest.Status.RUNNING:
            _end(locked, ABTest.Status.DECIDED, locked.outcome or ABTest.Outcome.STOPPED, sentence)
        decision = _record(locked, Decision.Kind.DECIDED, sentence, actor=actor, snapshot=snapshot)
        _promote(locked, decision, actor=actor)
    transaction.on_commit(running_tests.clear)
    return locked


def _promote(test: ABTest, decision: Decision, *, actor=None) -> None:
    now = timezone.now()
    model_version_transition(
        version=test.challenger,
        to_stage=Stage.PRODUCTION,
        actor=_actor(actor),
        reason=f"A/B test {test.pk}: {decision.sentence}",
        evidence={"decision": decision.pk, **decision.evidence},
    )
    test.promoted_at = now
    test.watch_until = now + timedelta(hours=test.watch_hours) if test.watch_hours else None
    test.save(update_fields=["promoted_at", "watch_until"])
    _record(
        test,
        Decision.Kind.PROMOTED,
        f"v{test.challenger.version} promoted to production"
        + (f"; watched for {test.watch_hours} h." if test.watch_hours else "."),
        actor=actor,
        snapshot=decision.snapshot,
        evidence={"decision": decision.pk},
    )


def _evaluate_watch(test: ABTest, actor) -> Snapshot | None:
    """After a promotion: the new production version's traffic (arm "watch") against the old
    champion's figures from the test. Rolls back on a significant accuracy drop (always-valid,
    one look per evaluation) or a guardrail breach; at the end of the period, passes."""
    production = model_version_production_of(test.registered_model_id)
    if production is None or production.pk != test.challenger_id:
        test.watch_until = None
        test.watch_result = "Watch ended: the production version changed by other means."
        test.save(update_fields=["watch_until", "watch_result"])
        transaction.on_commit(running_tests.clear)
        return None
    tallies = arm_tallies(ab_test_id=test.pk, arms=(CHAMPION, WATCH))
    a = _arm_figures(test.pk, tallies, CHAMPION)
    w = _arm_figures(test.pk, tallies, WATCH)
    stats = _statistics(test, a, w, Snapshot.Phase.WATCH)
    seq = stats["sequential"]
    rails = _guardrails(test, a, w)
    stats["guardrails"] = rails
    snapshot = _snapshot(test, Snapshot.Phase.WATCH, {CHAMPION: a, WATCH: w}, stats)
    broken = [r for r in rails if not r["holds"]]
    dropped = seq["significant"] and seq["estimate"] < 0
    if dropped or broken:
        if dropped:
            why = (
                f"its live accuracy is {_points(seq['estimate'])} against v"
                f"{test.champion.version}'s in the test (always-valid interval "
                f"{_points(seq['low'])} to {_points(seq['high'])}, {w['labelled']:,} labelled)"
            )
        else:
            rail = broken[0]
            why = (
                f"it breaks the {rail['name']} guardrail ({rail['value']:.3g} against a limit "
                f"of {rail['limit']:.3g})"
            )
        _rollback(test, f"Rolled back v{test.challenger.version}: {why}.", snapshot, actor)
    elif timezone.now() >= test.watch_until:
        test.watch_result = (
            f"Watch passed: {w['labelled']:,} labelled predictions in {test.watch_hours} h, "
            "no significant drop, guardrails held."
        )
        test.watch_until = None
        test.save(update_fields=["watch_until", "watch_result"])
        _record(test, Decision.Kind.WATCH_PASSED, test.watch_result, snapshot=snapshot)
        transaction.on_commit(running_tests.clear)
    return snapshot


def abtest_rollback(*, test: ABTest, actor=None, reason: str = "") -> ABTest:
    """Put the old champion back in production by hand."""
    with transaction.atomic():
        locked = (
            ABTest.objects.select_for_update()
            .select_related("registered_model", "champion", "challenger")
            .get(pk=test.pk)
        )
        if locked.promoted_at is None or locked.status == ABTest.Status.ROLLED_BACK:
            raise Conflict(f"{locked} has no promotion to roll back.")
        sentence = f"Rolled back by {_actor_label(actor)}" + (f": {reason}" if reason else ".")
        _rollback(locked, sentence, _latest(locked, Snapshot.Phase.WATCH), actor)
    return locked


def _rollback(test: ABTest, sentence: str, snapshot: Snapshot | None, actor) -> None:
    test.status = ABTest.Status.ROLLED_BACK
    test.watch_until = None
    test.watch_result = sentence
    test.save(update_fields=["status", "watch_until", "watch_result"])
    decision = _record(test, Decision.Kind.ROLLED_BACK, sentence, actor=actor, snapshot=snapshot)
    emit(
        "version.rolled_back",
        model_name=test.registered_model.name,
        version=test.champion.version,
        summary=f"{test.registered_model.name} back on v{test.champion.version}: {sentence}",
        data={"ab_test": test.pk, "decision": decision.pk},
    )
    champion = test.champion
    champion.refresh_from_db()
    if champion.stage != Stage.PRODUCTION:
        model_version_transition(
            version=champion,
            to_stage=Stage.PRODUCTION,
            actor=_actor(actor),
            reason=f"A/B test {test.pk}: {sentence}",
            evidence={"decision": decision.pk, **decision.evidence},
        )
    transaction.on_commit(running_tests.clear)
    logger.warning("%s: %s", test, sentence)


def abtests_evaluate_due() -> int:
    """Beat: evaluate every running test and every promotion under watch. Returns how many."""
    ids = list(
        (
            ABTest.objects.filter(status=ABTest.Status.RUNNING)
            | ABTest.objects.filter(status=ABTest.Status.DECIDED, watch_until__isnull=False)
        ).values_list("id", flat=True)
    )
    done = 0
    for pk in ids:
        try:
            if abtest_evaluate(test_id=pk) is not None:
                done += 1
        except Exception:  # one broken test must not stop the others
            logger.exception("A/B test %s: evaluation failed", pk)
    return done
