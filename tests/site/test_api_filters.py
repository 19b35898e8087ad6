"""Declared API filters (django-filter): they narrow the lists, a bad value is a 400 naming
the parameter, and the OpenAPI schema documents every one of them."""

import pytest

from inference.models import BatchScoringJob
from registry.models import Dataset
from tests.registry.factories import make_versions
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def _training_jobs():
    make_versions("churn", count=1)
    dataset = Dataset.objects.get()
    for status in ("queued", "failed"):
        TrainingJob.objects.create(dataset=dataset, model_name="churn", n_trials=1, status=status)


def _batch_jobs():
    (churn,) = make_versions("churn", count=1)
    (fraud,) = make_versions("fraud", count=1)
    for version, status in ((churn, "succeeded"), (fraud, "failed")):
        BatchScoringJob.objects.create(
            registered_model=version.registered_model,
            model_version=version,
            status=status,
            input_path="x.csv",
        )


@pytest.mark.parametrize(
    "setup, url, narrowed, expected",
    [
        (_training_jobs, "/api/v1/training-jobs/", "?status=failed", {"status": "failed"}),
        (_batch_jobs, "/api/v1/batch-jobs/", "?status=succeeded", {"model": "churn"}),
        (_batch_jobs, "/api/v1/batch-jobs/", "?model=fraud", {"status": "failed"}),
        (_batch_jobs, "/api/v1/batch-jobs/", "?model=fraud&status=succeeded", None),
    ],
)
def test_filters_narrow_the_list(api_client, setup, url, narrowed, expected):
    setup()
    assert api_client.get(url).json()["count"] == 2
    results = api_client.get(url + narrowed).json()["results"]
    if expected is None:
        assert results == []
    else:
        assert len(results) == 1
        assert {k: results[0][k] for k in expected} == expected


@pytest.mark.parametrize(
    "url, parameter",
    [
        ("/api/v1/training-jobs/?status=done", "status"),
        ("/api/v1/batch-jobs/?status=cancelled", "status"),
        ("/api/v1/versions/?stage=live", "stage"),
    ],
)
def test_a_bad_choice_is_a_400_naming_the_parameter(api_client, url, parameter):
    response = api_client.get(url)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == parameter
    assert parameter in body["detail"] and "valid choice" in body["detail"]


def test_the_schema_documents_every_filter(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    expected = {
        "/api/v1/versions/": {"model", "stage"},
        "/api/v1/transitions/": {"model"},
        "/api/v1/training-jobs/": {"status"},
        "/api/v1/batch-jobs/": {"model", "status"},
    }
    for path, names in expected.items():
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert names <= set(parameters), path
        for name in names:
            assert parameters[name]["in"] == "query"
            assert parameters[name].get("description"), (path, name)
    stage = {p["name"]: p for p in schema["paths"]["/api/v1/versions/"]["get"]["parameters"]}
    assert stage["stage"]["schema"]["enum"] == ["archived", "candidate", "production", "staging"]


def test_inference_admin_lists_the_log_and_batch_jobs_read_only(staff_client, django_user_model):
    # given a batch job and a logged prediction
    _batch_jobs()
    job = BatchScoringJob.objects.first()
    from inference.models import PredictionLog

    PredictionLog.objects.create(
        registered_model=job.registered_model,
        model_version=job.model_version,
        features={"x": 1},
        prediction="positive",
        probabilities={"positive": 0.9, "negative": 0.1},
        latency_ms=1.0,
        created_at=job.created_at,
    )
    staff_client.force_login(django_user_model.objects.create_superuser("root", "r@x.io", "pw"))

    # then both changelists render, a row opens, and nothing can be added
    for name in ("predictionlog", "batchscoringjob"):
        assert staff_client.get(f"/admin/inference/{name}/").status_code == 200
        assert staff_client.get(f"/admin/inference/{name}/add/").status_code == 403
    log = PredictionLog.objects.get()
    assert staff_client.get(f"/admin/inference/predictionlog/{log.pk}/change/").status_code == 200
