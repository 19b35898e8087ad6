"""The loop's last steps on real processes: Beat sends the evaluation, a worker runs it on
labelled traffic that came through the REST API, the challenger is promoted with the
decision as evidence; then a guardrail breach in production rolls it back."""

from contextlib import contextmanager

import pytest

from abtests.models import ABTest, Decision
from registry.models import StageTransition
from tests.abtests.helpers import champion_and_challenger
from tests.conftest import CeleryProcess, _child_env, wait_for
from tests.inference.models import feature_rows

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@contextmanager
def _beat(tmp_path):
    """Beat evaluating A/B tests every second."""
    beat = CeleryProcess(
        [
            "beat",
            "--loglevel=INFO",
            f"--schedule={tmp_path / 'beat-schedule'}",
            "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
        ],
        _child_env(ABTEST_EVALUATE_SECONDS="1"),
        tmp_path / "beat.log",
    )
    try:
        yield beat
    finally:
        beat.stop()


def _stage(version) -> str:
    version.refresh_from_db()
    return version.stage


def test_labelled_traffic_is_decided_promoted_and_a_breach_rolled_back(
    celery_worker_process, staff_api_client, api_client, tmp_path
):
    # given a split test of v2 against production v1, started over the API
    v1, v2 = champion_and_challenger()
    response = staff_api_client.post(
        "/api/v1/ab-tests/",
        {
            "model": "adult",
            "challenger_version": v2.version,
            "min_labelled_per_arm": 30,
            "mde": 0.2,
            "watch_hours": 1,
            # latency on a shared CI machine is noise; this test is about the error rate
            "max_latency_increase": 100,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    test = ABTest.objects.get(pk=response.json()["id"])

    # when 300 units predict and their labels come back: the challenger right every time,
    # the champion half of the time
    items, seen = [], {"champion": 0, "challenger": 0}
    rows = feature_rows(300)
    for i, row in enumerate(rows):
        answer = api_client.post(
            "/api/v1/models/adult/predict",
            {"instances": [row], "unit_id": f"user-{i}"},
            format="json",
        ).json()
        arm = answer["ab_test"]["arm"]
        prediction = answer["predictions"][0]
        seen[arm] += 1
        right = arm == "challenger" or seen[arm] % 2 == 0
        other = next(c for c in answer["class_labels"] if c != prediction["label"])
        items.append(
            {"prediction_id": prediction["id"], "label": prediction["label"] if right else other}
        )
    assert api_client.post("/api/v1/feedback", {"items": items}, format="json").status_code == 200

    # and Beat and a worker evaluate
    with _beat(tmp_path) as beat:
        wait_for(
            lambda: _stage(v2) == "production",
            timeout=150,
            what=f"the worker to decide and promote (beat log:\n{beat.output()})",
        )

        # then the decision is on record, and it is the promotion's evidence
        test.refresh_from_db()
        assert test.outcome == ABTest.Outcome.CHALLENGER_BETTER
        decision = Decision.objects.get(test=test, kind=Decision.Kind.DECIDED)
        assert decision.actor_label == "system"
        promotion = StageTransition.objects.get(model_version=v2, to_stage="production")
        assert promotion.evidence["decision"] == decision.pk
        assert _stage(v1) == "archived"

        # when, in production, half of 240 requests fail (a guardrail: the error rate)
        for i, row in enumerate(feature_rows(240)):
            if i % 2:
                row = {k: v for k, v in row.items() if k != "age"}
            api_client.post("/api/v1/models/adult/predict", {"instances": [row]}, format="json")

        # then the next evaluation rolls back to v1, with its reason
        wait_for(
            lambda: _stage(v1) == "production",
            timeout=150,
            what=f"the worker to roll back (beat log:\n{beat.output()})",
        )
    test.refresh_from_db()
    assert test.status == ABTest.Status.ROLLED_BACK
    assert "error rate guardrail" in test.watch_result
