"""The A/B tests API (create, list, retrieve with snapshots, stop, evaluate, promote, roll
back, the calculator), its errors, the pages, admin's actions and the metrics."""

import pytest

from abtests.models import ABTest
from abtests.services import abtest_evaluate
from tests.abtests.helpers import champion_and_challenger, serve, start_test

pytestmark = pytest.mark.django_db


def test_staff_start_a_test_over_the_api_and_others_may_not(staff_api_client, api_client):
    # given a champion and a challenger
    _, v2 = champion_and_challenger()
    body = {"model": "adult", "challenger_version": v2.version, "mode": "shadow", "alpha": 0.01}

    # when a non-staff user tries, then staff do
    assert api_client.post("/api/v1/ab-tests/", body, format="json").status_code == 403
    response = staff_api_client.post("/api/v1/ab-tests/", body, format="json")

    # then a shadow test runs with the given alpha
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "running" and created["mode"] == "shadow"
    assert created["alpha"] == 0.01 and created["created_by"] == "grace"
    # and a second one is a 409 naming the reason
    again = staff_api_client.post("/api/v1/ab-tests/", body, format="json")
    assert again.status_code == 409
    assert "already running" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "nope", "challenger_version": 2}, "model"),
        ({"model": "adult", "challenger_version": 99}, "challenger_version"),
        ({"model": "adult", "challenger_version": 2, "challenger_share": 2}, "challenger_share"),
        ({"model": "adult", "challenger_version": "two"}, "challenger_version"),
        ({"model": "adult", "challenger_version": 1}, "challenger"),
        ({"model": "adult", "challenger_version": 2, "mode": "bandit"}, "mode"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(staff_api_client, body, field):
    champion_and_challenger()
    response = staff_api_client.post("/api/v1/ab-tests/", body, format="json")
    assert 400 <= response.status_code < 500
    assert field in response.content.decode()
    assert not ABTest.objects.exists()


def test_a_test_is_listed_retrieved_evaluated_and_stopped(staff_api_client):
    # given a running test with labelled traffic
    _, v2 = champion_and_challenger()
    test = start_test(v2, min_labelled_per_arm=5000)
    serve(test, "champion", requests=50, rows=4, accuracy=0.8)
    serve(test, "challenger", requests=50, rows=4, accuracy=0.9)

    # when a client evaluates it now, lists tests and retrieves it
    evaluated = staff_api_client.post(f"/api/v1/ab-tests/{test.pk}/evaluate/")
    listed = staff_api_client.get("/api/v1/ab-tests/?model=adult&status=running")
    detail = staff_api_client.get(f"/api/v1/ab-tests/{test.pk}/")

    # then the snapshot has the arms and statistics, and the test lists its snapshots
    assert evaluated.status_code == 200, evaluated.content
    snap = evaluated.json()
    assert snap["arms"]["challenger"]["labelled"] == 200
    assert 0 <= snap["p_value"] <= 1 and snap["low"] <= snap["difference"] <= snap["high"]
    assert [t["id"] for t in listed.json()["results"]] == [test.pk]
    assert len(detail.json()["snapshots"]) == 1

    # when staff stop it, it ends, and evaluating again is a 409
    stopped = staff_api_client.post(f"/api/v1/ab-tests/{test.pk}/stop/", {"reason": "enough"})
    assert stopped.json()["status"] == "stopped"
    assert staff_api_client.post(f"/api/v1/ab-tests/{test.pk}/evaluate/").status_code == 409
    assert staff_api_client.get("/api/v1/ab-tests/?status=bogus").status_code == 400


def test_the_calculator_answers_and_refuses_bad_inputs(api_client):
    # when a client asks for a 2-point effect around 85 %
    response = api_client.get(
        "/api/v1/ab-tests/sample-size", {"baseline": 0.85, "mde": 0.02, "alpha": 0.05}
    )

    # then it gets labelled rows per arm for both tests
    assert response.status_code == 200, response.content
    body = response.json()
    assert 4000 < body["per_arm"]["challenger"] < 6000
    assert body["sequential_per_arm"]["challenger"] > 0
    # and an impossible baseline is a 400 naming it
    bad = api_client.get("/api/v1/ab-tests/sample-size", {"baseline": 1.5, "mde": 0.02})
    assert bad.status_code == 400
    assert "baseline" in bad.content.decode()


def test_the_pages_show_the_test_its_charts_and_the_decision(staff_client):
    # given a decided test
    v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=100, rows=10, accuracy=0.80)
    serve(test, "challenger", requests=100, rows=10, accuracy=0.92)
    abtest_evaluate(test_id=test.pk)

    # when a person opens the tab, the test and the start form
    listing = staff_client.get("/ab-tests/").content.decode()
    page = staff_client.get(f"/ab-tests/{test.pk}/").content.decode()
    form = staff_client.get("/ab-tests/new/adult/")

    # then the test is listed, its page has the sentence, scoreboard and charts
    assert f"/ab-tests/{test.pk}/" in listing
    assert f"Challenger v{v2.version} is better: +12.0 points" in page
    assert 'id="scoreboard"' in page and 'id="chart-interval"' in page
    assert 'id="chart-prob-better"' in page
    assert "Roll back to v" in page
    assert form.status_code == 200 and 'id="calculator"' in form.content.decode()


def test_starting_from_the_page_and_a_bad_form(staff_client):
    _, v2 = champion_and_challenger()
    bad = staff_client.post(
        "/ab-tests/new/adult/", {"challenger": v2.version, "mode": "split", "alpha": 5}
    )
    assert bad.status_code == 400
    good = staff_client.post(
        "/ab-tests/new/adult/",
        {
            "challenger": v2.version,
            "mode": "split",
            "challenger_share": 0.5,
            "alpha": 0.05,
            "mde": 0.02,
            "min_labelled_per_arm": 500,
            "max_duration_hours": 48,
            "max_latency_increase": 0.5,
            "max_error_rate_increase": 0.01,
            "auto_promote": "on",
            "watch_hours": 24,
            "start": "on",
        },
    )
    test = ABTest.objects.get()
    assert good.status_code == 302 and good["Location"] == f"/ab-tests/{test.pk}/"
    assert test.status == ABTest.Status.RUNNING


def test_admin_actions_stop_a_test(staff_user, client):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    _, v2 = champion_and_challenger()
    test = start_test(v2)
    response = client.post(
        "/admin/abtests/abtest/",
        {"action": "stop_tests", "_selected_action": [test.pk]},
        follow=True,
    )
    assert response.status_code == 200
    test.refresh_from_db()
    assert test.status == ABTest.Status.STOPPED


def test_metrics_expose_the_running_tests(client):
    _, v2 = champion_and_challenger()
    test = start_test(v2, min_labelled_per_arm=5000)
    serve(test, "champion", requests=40, accuracy=0.8)
    serve(test, "challenger", requests=40, accuracy=0.9)
    abtest_evaluate(test_id=test.pk)
    text = client.get("/metrics").content.decode()
    assert f'modelyard_abtest_labelled{{arm="challenger",test="{test.pk}"}} 40.0' in text
    assert f'modelyard_abtest_accuracy{{arm="champion",test="{test.pk}"}} 0.8' in text
    for name in ("p_value", "prob_better", "srm_p_value"):
        assert f'modelyard_abtest_{name}{{test="{test.pk}"}}' in text


def test_the_predict_page_says_which_arm_answered(page_client):
    # given a split test sending every unit to the challenger
    from tests.inference.models import feature_rows
    from tests.inference.test_predict_page import _form_data

    _, v2 = champion_and_challenger()
    test = start_test(v2, challenger_share=0.99)

    # when a person predicts on the page without pinning a version
    html = page_client.post("/predict/adult/", _form_data(feature_rows(1)[0])).content.decode()

    # then the result names the version, the test and the arm
    assert f'v{v2.version} · <a href="/ab-tests/{test.pk}/">A/B test #{test.pk}</a>' in html
    assert "challenger arm" in html


def test_the_dashboard_shows_each_production_model_with_its_test(page_client, api_client):
    # given production v1 with labelled traffic and a running test of v2
    _, v2 = champion_and_challenger()
    test = start_test(v2, min_labelled_per_arm=5000)
    serve(test, "champion", requests=10, accuracy=0.7)

    # when an operator opens the dashboard
    html = page_client.get("/").content.decode()

    # then the model's row has its live accuracy and its running test, and nothing runs
    row = html.split('id="dashboard-models"')[1].split("</table>")[0]
    assert "70.0%" in row and f'href="/ab-tests/{test.pk}/"' in row
    assert "Nothing queued or running." in html
