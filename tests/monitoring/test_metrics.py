"""/metrics: django-prometheus and prediction counters, database-backed gauges, the optional
bearer token, and counters summed across real gunicorn workers."""

import json
import os
import re
import signal
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from inference.services import feedback_record
from inference.serving.cache import model_cache
from tests.gunicorn_process import gunicorn_server
from tests.inference.models import feature_rows, register

ADULT_V1 = {"model": "adult", "version": "1"}


@pytest.fixture(autouse=True)
def _empty_model_cache():
    model_cache.clear()
    yield
    model_cache.clear()


def total(families, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 when there are none)."""
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def scrape(client) -> list:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return list(text_string_to_metric_families(response.content.decode()))


def predict(api_client, rows: list[dict]):
    response = api_client.post("/api/v1/models/adult/predict", {"instances": rows}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["predictions"]


@pytest.mark.django_db
def test_metrics_without_login_count_a_prediction_request_and_its_rows(client, api_client):
    # given a model in production and the counters as they stand (the registry is per process)
    register("hgb")
    before = scrape(client)

    # when one request predicts three rows
    predict(api_client, feature_rows(3))
    after = scrape(client)

    # then the anonymous scrape shows the request, its latency, its rows and Django's counters
    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("modelyard_prediction_requests_total", **ADULT_V1, protocol="rest") == 1
    assert delta("modelyard_prediction_latency_seconds_count", **ADULT_V1, protocol="rest") == 1
    assert delta("modelyard_predictions_total", **ADULT_V1) == 3
    # (predictions skip django-prometheus's generic counters: see inference/serving/middleware.py)
    assert (
        delta(
            "django_http_responses_total_by_status_view_method_total",
            status="200",
            view="predict",
            method="POST",
        )
        == 0
    )
    # a scrape counts itself before it reads the counters: the delta is the second one
    assert delta("django_http_requests_total_by_view_transport_method_total", view="metrics") == 1
    assert total(after, "modelyard_production_version", model="adult") == 1
    assert total(after, "modelyard_metrics_database_up") == 1


@pytest.mark.django_db
def test_metrics_count_refused_predictions_by_reason(client, api_client):
    # given a model in production and a row without its `age`
    register("hgb")
    row = feature_rows(1)[0]
    del row["age"]
    before = scrape(client)

    # when the row is sent
    response = api_client.post("/api/v1/models/adult/predict", {"instances": [row]}, format="json")

    # then the refusal is counted under the model with its reason, and nothing as served
    assert response.status_code == 400, response.content
    after = scrape(client)
    errors = "modelyard_prediction_errors_total"
    labels = {"model": "adult", "reason": "missing_feature"}
    assert total(after, errors, **labels) - total(before, errors, **labels) == 1
    served = "modelyard_prediction_requests_total"
    assert total(after, served, model="adult") == total(before, served, model="adult")


@pytest.mark.django_db
def test_live_accuracy_gauge_follows_recorded_feedback(client, api_client):
    # given four served predictions, none labelled yet
    version = register("hgb")
    served = predict(api_client, feature_rows(4))
    unlabelled = scrape(client)

    # when three are labelled as predicted and one with the other class
    for prediction in served[:3]:
        feedback_record(prediction_id=prediction["id"], label=prediction["label"])
    wrong = next(label for label in version.class_labels if label != served[3]["label"])
    feedback_record(prediction_id=served[3]["id"], label=wrong)
    labelled = scrape(client)

    # then the gauges read the prediction log at scrape time
    assert total(unlabelled, "modelyard_logged_predictions", **ADULT_V1) == 4
    assert total(unlabelled, "modelyard_labelled_predictions", **ADULT_V1) == 0
    assert not [s for f in unlabelled for s in f.samples if s.name == "modelyard_live_accuracy"], (
        "no accuracy before the first label"
    )
    assert total(labelled, "modelyard_labelled_predictions", **ADULT_V1) == 4
    assert total(labelled, "modelyard_live_accuracy", **ADULT_V1) == pytest.approx(0.75)


@pytest.mark.django_db
def test_metrics_answer_openmetrics_when_the_scraper_asks_for_it(client):
    # given Prometheus's own Accept header, which prefers OpenMetrics
    accept = (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    )

    # when scraped with it
    response = client.get("/metrics", HTTP_ACCEPT=accept)

    # then the body is OpenMetrics, which ends with its EOF marker
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.endswith(b"# EOF\n")


@pytest.mark.django_db
def test_metrics_token_requires_the_bearer_token(client, page_client, settings):
    # given a metrics token
    settings.METRICS_TOKEN = "scrape-secret"

    # when scraped without it, with another one, with another scheme, by a logged-in user,
    # and with it
    anonymous = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secreT")
    scheme = client.get("/metrics", HTTP_AUTHORIZATION="Token scrape-secret")
    session = page_client.get("/metrics")
    bearer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")

    # then only the bearer token gets the metrics
    for refused in (anonymous, wrong, scheme, session):
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"].startswith("Bearer")
        assert b"modelyard_" not in refused.content
    assert bearer.status_code == 200
    assert b"modelyard_metrics_database_up 1.0" in bearer.content


# --- Several gunicorn workers ------------------------------------------------------------------


def http_predict(url: str, token: str, rows: list[dict]) -> int:
    request = urllib.request.Request(
        f"{url}/api/v1/models/adult/predict",
        data=json.dumps({"instances": rows}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def http_scrape(url: str) -> list:
    with urllib.request.urlopen(f"{url}/metrics", timeout=60) as response:
        return list(text_string_to_metric_families(response.read().decode()))


def per_worker(directory: Path, name: str, **labels: str) -> dict[int, float]:
    """`name` summed in each worker's own counter file (counter_<pid>.db)."""
    return {
        int(re.fullmatch(r"counter_(\d+)\.db", path.name).group(1)): total(
            MultiProcessCollector.merge([str(path)]), name, **labels
        )
        for path in directory.glob("counter_*.db")
    }


@pytest.mark.django_db(transaction=True)
def test_prediction_count_is_summed_across_gunicorn_workers(user, tmp_path):
    # given a model in production, an API token and gunicorn with two workers
    register("hgb")
    token = Token.objects.create(user=user).key
    metrics_dir = tmp_path / "prometheus"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    n = 40
    with gunicorn_server(workers=2, env_extra=env) as url:
        # when n predictions arrive four at a time, and /metrics is scraped eight times,
        # four at a time, so both workers answer some of each
        with ThreadPoolExecutor(4) as pool:
            statuses = list(
                pool.map(lambda i: http_predict(url, token, feature_rows(1, start=i)), range(n))
            )
            scrapes = list(pool.map(lambda _: http_scrape(url), range(8)))
        served_by = per_worker(metrics_dir, "modelyard_prediction_requests_total")
        scraped_by = per_worker(
            metrics_dir, "django_http_requests_total_by_view_transport_method_total", view="metrics"
        )
        # and a worker dies
        os.kill(min(served_by), signal.SIGKILL)
        after_death = http_scrape(url)
    first_run_workers = set(served_by)

    # then every scrape, whichever worker answered it, counts exactly n requests
    assert statuses == [200] * n
    assert [total(s, "modelyard_prediction_requests_total", **ADULT_V1) for s in scrapes] == [n] * 8
    assert len([pid for pid, count in served_by.items() if count]) == 2, served_by
    assert len([pid for pid, count in scraped_by.items() if count]) == 2, scraped_by
    assert sum(served_by.values()) == n
    # and the dead worker's requests still count
    assert total(after_death, "modelyard_prediction_requests_total", **ADULT_V1) == n

    # when gunicorn starts again on the same directory
    with gunicorn_server(workers=2, env_extra=env) as url:
        restarted = http_scrape(url)
        files = {path.name for path in metrics_dir.iterdir()}

    # then the previous run's files are gone and the count starts from zero
    assert total(restarted, "modelyard_prediction_requests_total") == 0
    assert not [
        name for name in files if int(re.search(r"_(\d+)\.db$", name).group(1)) in first_run_workers
    ], files


@pytest.mark.django_db
def test_prediction_requests_skip_the_generic_django_counters(api_client):
    # given a production model
    from django_prometheus.middleware import Metrics

    from inference.serving.cache import model_cache

    model_cache.clear()
    register("logreg")
    by_view = Metrics.get_instance().requests_by_view_transport_method

    def predict_view_count() -> float:
        return sum(
            s.value
            for m in by_view.collect()
            for s in m.samples
            if s.labels.get("view") == "predict" and s.name.endswith("_total")
        )

    before = predict_view_count()

    # when a prediction is served
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(1)}, format="json"
    )

    # then it is counted by our metrics only (the generic per-view counter did not move)
    assert response.status_code == 200
    assert predict_view_count() == before
    api_client.get("/api/v1/models/")
    assert any(
        s.labels.get("view") == "registered-model-list"
        for m in by_view.collect()
        for s in m.samples
    )
