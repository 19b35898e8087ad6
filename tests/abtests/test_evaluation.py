"""Evaluation and decisions on the arms' tallies: a significant difference with enough
labelled rows, a matching sample ratio and holding guardrails decides; the winner is
promoted with the decision as the transition's evidence; a drop after promotion rolls back;
two evaluations at once decide and promote once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from abtests.models import ABTest, Decision, Snapshot
from abtests.services import (
    abtest_create,
    abtest_evaluate,
    abtest_promote,
    abtest_rollback,
    abtest_stop,
)
from core.errors import Conflict, InvalidInput
from registry.models import StageTransition
from tests.abtests.helpers import champion_and_challenger, serve, start_test
from tests.inference.models import register

pytestmark = pytest.mark.django_db


def _stage(version) -> str:
    version.refresh_from_db()
    return version.stage


def test_a_better_challenger_is_decided_and_promoted_with_its_evidence():
    # given a split test where the challenger is right 92 % of the time and the champion 80 %
    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=100, rows=10, accuracy=0.80)
    serve(test, "challenger", requests=100, rows=10, accuracy=0.92)

    # when the test is evaluated
    snapshot = abtest_evaluate(test_id=test.pk)

    # then it is decided for the challenger, in one plain sentence
    test.refresh_from_db()
    assert test.status == ABTest.Status.DECIDED
    assert test.outcome == ABTest.Outcome.CHALLENGER_BETTER
    assert test.summary.startswith(f"Challenger v{v2.version} is better: +12.0 points")
    assert "promoted automatically" in test.summary
    assert snapshot.p_value < test.alpha and snapshot.low > 0
    assert snapshot.arms["champion"]["labelled"] == 1000
    assert snapshot.arms["challenger"]["accuracy"] == pytest.approx(0.92)
    # and promoted through the registry, the decision being the transition's evidence
    assert _stage(v2) == "production" and _stage(v1) == "archived"
    promotion = StageTransition.objects.get(model_version=v2, to_stage="production")
    decision = Decision.objects.get(test=test, kind=Decision.Kind.DECIDED)
    assert promotion.evidence["decision"] == decision.pk
    assert promotion.evidence["ab_test"] == test.pk
    assert promotion.evidence["p_value"] == snapshot.p_value
    assert decision.actor_label == "system"
    assert test.watch_until is not None


def test_too_few_labelled_rows_hold_the_decision_back_and_say_so():
    # given a large difference but 40 labelled rows an arm, with 100 needed
    _, v2 = champion_and_challenger()
    test = start_test(v2, min_labelled_per_arm=100)
    serve(test, "champion", requests=40, accuracy=0.5)
    serve(test, "challenger", requests=40, accuracy=1.0)

    # when it is evaluated
    snapshot = abtest_evaluate(test_id=test.pk)

    # then it keeps running, and the snapshot names what is missing
    test.refresh_from_db()
    assert test.status == ABTest.Status.RUNNING
    assert any("40 of 100 labelled rows per arm" in b for b in snapshot.stats["blocked_by"])


def test_a_sample_ratio_mismatch_blocks_the_decision():
    # given a 50/50 split test whose arms saw 200 and 320 units
    _, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=200, rows=5, accuracy=0.80)
    serve(test, "challenger", requests=320, rows=5, accuracy=0.95)

    # when it is evaluated
    snapshot = abtest_evaluate(test_id=test.pk)

    # then the mismatch is found and blocks a decision the accuracy alone would make
    assert snapshot.srm_p_value < 0.001
    assert snapshot.stats["sequential"]["significant"]
    assert any("sample-ratio mismatch" in b for b in snapshot.stats["blocked_by"])
    test.refresh_from_db()
    assert test.status == ABTest.Status.RUNNING


def test_a_worse_challenger_leaves_the_champion():
    # given a challenger right 70 % of the time against a champion at 85 %
    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=100, rows=10, accuracy=0.85)
    serve(test, "challenger", requests=100, rows=10, accuracy=0.70)

    # when it is evaluated
    abtest_evaluate(test_id=test.pk)

    # then the champion wins and nothing moves
    test.refresh_from_db()
    assert test.outcome == ABTest.Outcome.CHAMPION_BETTER
    assert test.summary.startswith(f"Champion v{v1.version} is better")
    assert _stage(v1) == "production"


def test_a_broken_guardrail_keeps_a_more_accurate_challenger_out():
    # given a more accurate challenger whose p95 latency is ten times the champion's
    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=150, rows=5, accuracy=0.80, latency_ms=2.0)
    serve(test, "challenger", requests=150, rows=5, accuracy=0.95, latency_ms=20.0)

    # when it is evaluated
    snapshot = abtest_evaluate(test_id=test.pk)

    # then it is decided as a guardrail failure, not promoted
    test.refresh_from_db()
    assert test.outcome == ABTest.Outcome.GUARDRAIL
    assert "p95 latency" in test.summary
    rail = next(r for r in snapshot.stats["guardrails"] if r["name"].startswith("p95"))
    assert rail["value"] == pytest.approx(20.0) and not rail["holds"]
    assert _stage(v1) == "production"


def test_the_maximum_duration_ends_with_no_difference_found():
    # given two equally accurate arms and a test started two hours ago with a 1 h limit
    v1, v2 = champion_and_challenger()
    test = start_test(v2, max_duration_hours=1)
    ABTest.objects.filter(pk=test.pk).update(started_at=timezone.now() - timedelta(hours=2))
    serve(test, "champion", requests=100, rows=2, accuracy=0.85)
    serve(test, "challenger", requests=100, rows=2, accuracy=0.85)

    # when it is evaluated
    abtest_evaluate(test_id=test.pk)

    # then it stops with "no difference found" and the champion stays
    test.refresh_from_db()
    assert test.status == ABTest.Status.STOPPED
    assert test.outcome == ABTest.Outcome.NO_DIFFERENCE
    assert test.summary.startswith("No difference found")
    assert _stage(v1) == "production"


def test_a_drop_after_promotion_rolls_back_with_its_evidence():
    # given a challenger promoted by its test (champion right 80 %, challenger 92 %)
    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=100, rows=10, accuracy=0.80)
    serve(test, "challenger", requests=100, rows=10, accuracy=0.92)
    abtest_evaluate(test_id=test.pk)
    assert _stage(v2) == "production"

    # when, in production, it is right only 60 % of the time
    test.refresh_from_db()
    serve(test, "watch", requests=100, rows=10, accuracy=0.60)
    snapshot = abtest_evaluate(test_id=test.pk)

    # then it is rolled back: the old champion serves again, with the evidence
    test.refresh_from_db()
    assert snapshot.phase == Snapshot.Phase.WATCH
    assert test.status == ABTest.Status.ROLLED_BACK
    assert _stage(v1) == "production" and _stage(v2) == "archived"
    back = StageTransition.objects.filter(model_version=v1, to_stage="production").latest("id")
    rollback = Decision.objects.get(test=test, kind=Decision.Kind.ROLLED_BACK)
    assert back.evidence["decision"] == rollback.pk
    assert "Rolled back" in rollback.sentence and "-20.0 points" in rollback.sentence


def test_a_steady_promotion_passes_its_watch():
    # given a promoted challenger whose watch period is over, as accurate as in its test
    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=100, rows=10, accuracy=0.80)
    serve(test, "challenger", requests=100, rows=10, accuracy=0.92)
    abtest_evaluate(test_id=test.pk)
    test.refresh_from_db()
    serve(test, "watch", requests=50, rows=10, accuracy=0.92)
    ABTest.objects.filter(pk=test.pk).update(watch_until=timezone.now() - timedelta(seconds=1))

    # when it is evaluated
    abtest_evaluate(test_id=test.pk)

    # then the watch passes and v2 stays
    test.refresh_from_db()
    assert test.watch_until is None
    assert test.watch_result.startswith("Watch passed")
    assert _stage(v2) == "production"
    assert Decision.objects.filter(test=test, kind=Decision.Kind.WATCH_PASSED).exists()


def test_a_person_can_stop_promote_and_roll_back(staff_user):
    # given a running test
    v1, v2 = champion_and_challenger()
    test = start_test(v2)

    # when staff promote the challenger by hand, then roll it back
    abtest_promote(test=test, actor=staff_user, reason="looks good")
    assert _stage(v2) == "production"
    abtest_rollback(test=test, actor=staff_user, reason="changed my mind")

    # then the champion serves again and both steps are on record with the person
    assert _stage(v1) == "production"
    kinds = list(Decision.objects.filter(test=test).values_list("kind", "actor_label"))
    assert ("promoted", "grace") in kinds and ("rolled_back", "grace") in kinds
    with pytest.raises(Conflict):
        abtest_rollback(test=test, actor=staff_user)

    # and a new test can be stopped, which promotes nothing
    v3 = register("hgb")
    other = start_test(v3)
    abtest_stop(test=other, actor=staff_user, reason="not now")
    other.refresh_from_db()
    assert other.status == ABTest.Status.STOPPED and _stage(v1) == "production"


def test_bad_starts_are_refused_with_reasons():
    v1, v2 = champion_and_challenger()
    # the production version cannot challenge itself
    with pytest.raises(InvalidInput, match="is the production version"):
        abtest_create(challenger=v1)
    # a setting out of range names the field
    with pytest.raises(InvalidInput, match="challenger_share"):
        abtest_create(challenger=v2, challenger_share=1.5)
    # one running test per model
    start_test(v2)
    with pytest.raises(Conflict, match="already running"):
        abtest_create(challenger=v2)
    assert ABTest.objects.filter(status="running").count() == 1


def test_the_champion_leaving_production_stops_the_test():
    # given a running test, and someone promotes the challenger outside it
    from registry.services import model_version_promote

    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    model_version_promote(version=v2, reason="by hand")

    # when the test is evaluated
    assert abtest_evaluate(test_id=test.pk) is None

    # then it stops and says why
    test.refresh_from_db()
    assert test.status == ABTest.Status.STOPPED
    assert f"champion v{v1.version} left production" in test.summary


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_decide_once_and_promote_once():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: two transactions cannot race there")
    # given a test ready to decide for its challenger
    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=100, rows=10, accuracy=0.80)
    serve(test, "challenger", requests=100, rows=10, accuracy=0.92)

    # when two threads evaluate it at the same moment
    barrier = threading.Barrier(2)
    errors = []

    def evaluate():
        from django.db import connections

        try:
            barrier.wait()
            abtest_evaluate(test_id=test.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then there is one decision and one promotion
    assert errors == []
    assert Decision.objects.filter(test=test, kind=Decision.Kind.DECIDED).count() == 1
    assert StageTransition.objects.filter(model_version=v2, to_stage="production").count() == 1
    assert _stage(v2) == "production"


@pytest.mark.parametrize("mode", ["split", "shadow"])
def test_an_evaluation_before_any_traffic_says_what_is_missing(mode):
    _, v2 = champion_and_challenger()
    test = start_test(v2, mode=mode)
    snapshot = abtest_evaluate(test_id=test.pk)
    assert snapshot.p_value == 1.0 and snapshot.prob_better == pytest.approx(0.5, abs=1e-6)
    what = "labelled pairs" if mode == "shadow" else "labelled rows per arm"
    assert any(f"0 of 100 {what}" in b for b in snapshot.stats["blocked_by"])
    assert (snapshot.srm_p_value is None) == (mode == "shadow")
