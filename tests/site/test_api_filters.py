"""Declared API filters (django-filter): they narrow the lists, a bad value is a 400 naming
the parameter, and the OpenAPI schema documents every one of them."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inference.admin import CappedCountPaginator
from inference.models import BatchScoringJob, PredictionLog
from registry.models import Dataset, ModelVersion, StageTransition
from tests.registry.factories import make_versions
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def _versions():
    make_versions("churn", count=1)
    (fraud,) = make_versions("fraud", count=1)
    ModelVersion.objects.filter(pk=fraud.pk).update(stage="staging")


def _transitions():
    for name in ("churn", "fraud"):
        (version,) = make_versions(name, count=1)
        StageTransition.objects.create(
            model_version=version, from_stage="candidate", to_stage="staging", actor_label="ci"
        )


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
        (_versions, "/api/v1/versions/", "?model=churn", {"model": "churn", "stage": "candidate"}),
        (_versions, "/api/v1/versions/", "?stage=staging", {"model": "fraud"}),
        (_versions, "/api/v1/versions/", "?model=churn&stage=staging", None),
        (_transitions, "/api/v1/transitions/", "?model=fraud", {"model": "fraud"}),
        (_training_jobs, "/api/v1/training-jobs/", "?status=failed", {"status": "failed"}),
        (_batch_jobs, "/api/v1/batch-jobs/", "?status=succeeded", {"model": "churn"}),
        (_batch_jobs, "/api/v1/batch-jobs/", "?model=fraud", {"status": "failed"}),
        (_batch_jobs, "/api/v1/batch-jobs/", "?model=fraud&status=succeeded", None),
    ],
)
def test_filters_narrow_the_list(api_client, setup, url, narrowed, expected):
    # given two rows
    setup()
    assert api_client.get(url).json()["count"] == 2

    # when the list is filtered
    results = api_client.get(url + narrowed).json()["results"]

    # then only the matching one is left
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
    # when a choice filter gets a value outside its choices
    response = api_client.get(url)

    # then the answer is a 400 that names the parameter
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == parameter
    assert parameter in body["detail"] and "valid choice" in body["detail"]


def test_the_schema_documents_every_filter(api_client):
    # when the OpenAPI schema is fetched as JSON
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    expected = {
        "/api/v1/versions/": {"model", "stage"},
        "/api/v1/transitions/": {"model"},
        "/api/v1/training-jobs/": {"status"},
        "/api/v1/batch-jobs/": {"model", "status"},
    }

    # then each list operation documents its filters as described query parameters
    for path, names in expected.items():
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert names <= set(parameters), path
        for name in names:
            assert parameters[name]["in"] == "query"
            assert parameters[name].get("description"), (path, name)
    stage = {p["name"]: p for p in schema["paths"]["/api/v1/versions/"]["get"]["parameters"]}
    assert stage["stage"]["schema"]["enum"] == ["archived", "candidate", "production", "staging"]


def _prediction_log(job: BatchScoringJob) -> PredictionLog:
    return PredictionLog.objects.create(
        registered_model=job.registered_model,
        model_version=job.model_version,
        features={"x": 1},
        prediction="positive",
        probabilities={"positive": 0.9, "negative": 0.1},
        latency_ms=1.0,
        created_at=job.created_at,
    )


def test_inference_admin_shows_the_log_and_batch_jobs_read_only(staff_client, staff_user):
    # given a staff user who may view the inference models, a batch job and a logged prediction
    staff_user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="inference",
            codename__in=["view_predictionlog", "view_batchscoringjob"],
        )
    )
    _batch_jobs()
    log = _prediction_log(BatchScoringJob.objects.first())

    # then both changelists render, a row opens, and nothing can be added
    for name in ("predictionlog", "batchscoringjob"):
        assert staff_client.get(f"/admin/inference/{name}/").status_code == 200
        assert staff_client.get(f"/admin/inference/{name}/add/").status_code == 403
    assert staff_client.get(f"/admin/inference/predictionlog/{log.pk}/change/").status_code == 200


def test_prediction_log_changelist_never_counts_the_whole_table(admin_client, monkeypatch):
    # given more logged predictions than the changelist counts
    _batch_jobs()
    job = BatchScoringJob.objects.first()
    for _ in range(3):
        _prediction_log(job)

    # when the unfiltered changelist is shown with a count cap of 2
    monkeypatch.setattr(CappedCountPaginator, "cap", 2)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/inference/predictionlog/")

    # then it counts up to the cap, and every count of the log is bounded
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    counts = [
        q["sql"] for q in queries if "COUNT(" in q["sql"] and "inference_predictionlog" in q["sql"]
    ]
    assert counts and all("LIMIT" in sql for sql in counts)
