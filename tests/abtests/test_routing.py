"""Assignment in the prediction path: a running split test serves each unit from one arm for
its whole life; a pinned version or stage is never assigned; the answer names the arm; the
log rows and the arms' tallies carry the test. Shadow tests score the challenger on the same
rows, log it, never return it, and feedback labels both."""

import math
from collections import Counter

import pytest
from django.db.models import Count, Q

from abtests.services import abtest_stop, assignment, running_tests
from inference.models import PredictionLog, PredictionTally, UnitExposure
from inference.selectors import arm_tallies
from tests.abtests.helpers import champion_and_challenger, start_test
from tests.inference.models import feature_rows

pytestmark = pytest.mark.django_db


def _predict(api_client, unit_id=None, **extra):
    body = {"instances": feature_rows(1), **extra}
    if unit_id is not None:
        body["unit_id"] = unit_id
    response = api_client.post("/api/v1/models/adult/predict", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_unit_keeps_its_arm_and_units_split_as_planned(api_client):
    # given a running split test with a 30 % challenger share
    v1, v2 = champion_and_challenger()
    test = start_test(v2, challenger_share=0.3)

    # when 400 units each predict three times
    arms: dict[str, set] = {}
    for i in range(400):
        for _ in range(3):
            answer = _predict(api_client, unit_id=f"user-{i}")
            arms.setdefault(f"user-{i}", set()).add((answer["ab_test"]["arm"], answer["version"]))

    # then every unit got one arm (and its version) every time
    assert all(len(seen) == 1 for seen in arms.values())
    picked = Counter(next(iter(seen))[0] for seen in arms.values())
    assert {arm for arm, _ in set().union(*arms.values())} == {"champion", "challenger"}
    assert {v for _, v in set().union(*arms.values())} == {v1.version, v2.version}
    # and the challenger's share is within 4 binomial standard deviations of 30 %
    sd = math.sqrt(400 * 0.3 * 0.7)
    assert abs(picked["challenger"] - 120) < 4 * sd
    # and the log rows and tallies carry the test and the arm
    logged = PredictionLog.objects.filter(ab_test_id=test.pk)
    assert logged.count() == 1200
    assert set(logged.filter(arm="challenger").values_list("model_version_id", flat=True)) == {
        v2.pk
    }
    tallies = arm_tallies(ab_test_id=test.pk)
    assert tallies["challenger"]["units"] == picked["challenger"]
    assert tallies["champion"]["units"] == picked["champion"]
    assert tallies["challenger"]["requests"] == 3 * picked["challenger"]
    assert UnitExposure.objects.filter(ab_test_id=test.pk).count() == 400


def test_assignment_is_a_keyed_hash_of_test_and_unit():
    # given two tests and one unit
    # then the unit's point is stable per test and differs between tests
    assert assignment(1, "a" * 64) == assignment(1, "a" * 64)
    assert assignment(1, "a" * 64) != assignment(2, "a" * 64)
    # and a unit-less request draws afresh (its own unit)
    draws = {assignment(1, "") for _ in range(50)}
    assert len(draws) == 50
    assert all(0 <= d < 1 for d in draws)


def test_requests_without_a_unit_are_each_their_own_unit(api_client):
    # given a running split test
    _, v2 = champion_and_challenger()
    test = start_test(v2)

    # when 200 requests come without a unit id
    answers = [_predict(api_client)["ab_test"]["arm"] for _ in range(200)]

    # then both arms served, and each request counted as one unit
    counts = Counter(answers)
    assert counts["champion"] > 60 and counts["challenger"] > 60
    tallies = arm_tallies(ab_test_id=test.pk)
    assert tallies["champion"]["units"] == counts["champion"]
    assert tallies["challenger"]["units"] == counts["challenger"]
    assert not UnitExposure.objects.exists()


def test_a_pinned_version_or_stage_is_never_assigned(api_client):
    # given a running split test sending every unit to the challenger
    v1, v2 = champion_and_challenger()
    test = start_test(v2, challenger_share=0.99)

    # when callers name a version or a stage
    pinned = _predict(api_client, unit_id="u1", version=v1.version)
    staged = _predict(api_client, unit_id="u1", stage="production")

    # then they get exactly that, outside the test
    assert pinned["version"] == v1.version and "ab_test" not in pinned
    assert staged["version"] == v1.version and "ab_test" not in staged
    assert not PredictionLog.objects.filter(ab_test_id=test.pk).exists()


def test_nothing_is_assigned_after_the_test_ends(api_client):
    # given a split test that was stopped
    v1, v2 = champion_and_challenger()
    test = start_test(v2, challenger_share=0.99)
    assert _predict(api_client, unit_id="u1")["ab_test"]["arm"] == "challenger"
    abtest_stop(test=test, reason="done")
    running_tests.clear()

    # when the same unit predicts again
    answer = _predict(api_client, unit_id="u1")

    # then production answers, outside any test
    assert answer["version"] == v1.version
    assert "ab_test" not in answer


def test_v2_answers_name_the_arm(api_client):
    # given a running split test sending every unit to the challenger
    _, v2 = champion_and_challenger()
    test = start_test(v2, challenger_share=0.99)
    from tests.inference.test_v2_protocol import pd_request

    # when a V2 client infers with a unit id
    body = pd_request(feature_rows(2), v2.signature)
    body["parameters"] = {**body.get("parameters", {}), "unit_id": "u7"}
    response = api_client.post("/v2/models/adult/infer", body, format="json")

    # then the answer names the test and arm, and the version
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["model_version"] == str(v2.version)
    assert answer["parameters"] == {"ab_test_id": test.pk, "arm": "challenger"}


def test_shadow_rows_are_logged_never_returned_and_labelled_with_the_answer(api_client):
    # given a running shadow test
    v1, v2 = champion_and_challenger()
    test = start_test(v2, mode="shadow")

    # when a client predicts 5 rows
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(5)}, format="json"
    )

    # then the champion answered every row, and only its ids came back
    answer = response.json()
    assert answer["version"] == v1.version
    assert answer["ab_test"] == {"id": test.pk, "arm": "champion"}
    returned = [p["id"] for p in answer["predictions"]]
    shadows = PredictionLog.objects.filter(ab_test_id=test.pk, arm="challenger")
    assert shadows.count() == 5
    assert set(shadows.values_list("model_version_id", flat=True)) == {v2.pk}
    assert {str(s.shadow_of) for s in shadows} == set(returned)
    assert not {str(s.id) for s in shadows} & set(returned)

    # when the caller labels its rows through the API
    items = [{"prediction_id": pid, "label": ">50K"} for pid in returned]
    labelled = api_client.post("/api/v1/feedback", {"items": items}, format="json")
    assert labelled.status_code == 200, labelled.content

    # then each shadow row got the same label, and the pairs were tallied
    shadows = shadows.all()
    assert set(shadows.values_list("label", flat=True)) == {">50K"}
    champion_right = PredictionLog.objects.filter(id__in=returned, is_correct=True).values_list(
        "id", flat=True
    )
    shadow_right = {s.shadow_of for s in shadows if s.is_correct}
    t = arm_tallies(ab_test_id=test.pk)["challenger"]
    assert t["pairs"] == 5
    assert t["pairs_champion_only"] == len(set(champion_right) - shadow_right)
    assert t["pairs_challenger_only"] == len(shadow_right - set(champion_right))


def test_tallies_equal_the_log_after_labels_and_overwrites(api_client):
    # given a running split test with traffic from 60 units, two rows a request
    _, v2 = champion_and_challenger()
    test = start_test(v2)
    ids = []
    for i in range(60):
        answer = api_client.post(
            "/api/v1/models/adult/predict",
            {"instances": feature_rows(2, start=i), "unit_id": f"u{i}"},
            format="json",
        ).json()
        ids += [p["id"] for p in answer["predictions"]]

    # when half the rows are labelled, and some labels are then overwritten
    first = [{"prediction_id": pid, "label": "<=50K"} for pid in ids[:60]]
    api_client.post("/api/v1/feedback", {"items": first}, format="json")
    again = [{"prediction_id": pid, "label": ">50K"} for pid in ids[:20]]
    response = api_client.post(
        "/api/v1/feedback", {"items": again, "overwrite": True}, format="json"
    )
    assert response.status_code == 200, response.content

    # then every arm's tally equals an aggregate of the log itself
    expected = {
        row["arm"]: row
        for row in PredictionLog.objects.filter(ab_test_id=test.pk)
        .values("arm")
        .annotate(
            predictions=Count("id"),
            labelled=Count("id", filter=Q(label__isnull=False)),
            correct=Count("id", filter=Q(is_correct=True)),
        )
    }
    tallies = arm_tallies(ab_test_id=test.pk)
    for arm, row in expected.items():
        assert tallies[arm]["predictions"] == row["predictions"]
        assert tallies[arm]["labelled"] == row["labelled"]
        assert tallies[arm]["correct"] == row["correct"]
    assert sum(t["requests"] for t in tallies.values()) == 60
    assert PredictionTally.objects.filter(ab_test_id=test.pk).count() == len(expected)


def test_a_failed_request_counts_as_its_arms_error(api_client):
    # given a running split test sending every unit to the challenger
    _, v2 = champion_and_challenger()
    test = start_test(v2, challenger_share=0.99)

    # when a request with a missing feature fails validation
    row = feature_rows(1)[0]
    row.pop("age")
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": [row], "unit_id": "u1"}, format="json"
    )

    # then the caller gets a 400 naming the feature, and the arm's error is counted
    assert response.status_code == 400
    assert "age" in response.json()["detail"]
    assert arm_tallies(ab_test_id=test.pk)["challenger"]["errors"] == 1


def test_batch_scoring_keeps_production_during_a_test(user):
    # given a split test sending every unit to the challenger
    import io

    from inference.services import batch_scoring_job_create
    from tests.inference.test_batch_scoring import make_csv

    v1, v2 = champion_and_challenger()
    start_test(v2, challenger_share=0.99)

    # when a batch job is created without a version
    job = batch_scoring_job_create(
        model_name="adult", file=io.BytesIO(make_csv(feature_rows(3))), actor=user
    )

    # then production scores it: offline work is not live traffic
    assert job.model_version_id == v1.pk
