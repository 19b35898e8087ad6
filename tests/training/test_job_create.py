"""Starting a training job: validation names the field; a valid request is queued."""

import pytest

from registry.builtin import SYNTHETIC_REFERENCE
from registry.models import Dataset
from registry.services import dataset_generate_synthetic
from tests.registry.factories import make_versions
from training.models import TrainingJob

pytestmark = pytest.mark.django_db
URL = "/api/v1/training-jobs/"


@pytest.fixture
def dataset():
    return dataset_generate_synthetic(params=SYNTHETIC_REFERENCE)[0]


def test_valid_request_is_queued_with_defaults(
    api_client, dataset, django_capture_on_commit_callbacks
):
    # when a job is requested with only a dataset and a model name
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(
            URL, {"dataset": dataset.pk, "model_name": "synth"}, format="json"
        )

    # then it is stored QUEUED with the defaults filled in, and enqueued once committed
    assert response.status_code == 201, response.json()
    job = TrainingJob.objects.get()
    assert job.status == TrainingJob.Status.QUEUED
    assert job.n_trials == 20
    assert job.config["families"] == ["mlp", "hgb", "logreg"]
    assert job.config["imbalance"] == ["none", "class_weight", "smote"]
    assert job.config["target"] == "label"
    assert job.study_name == f"modelyard-job-{job.pk}"
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"dataset": 999999}, "dataset", "Invalid pk"),
        ({"target": "nope"}, "target", "not in dataset"),
        ({"target": "x0"}, "target", "distinct values"),
        ({"families": []}, "families", "at least one"),
        ({"families": ["xgboost"]}, "families", "not a valid choice"),
        ({"imbalance": []}, "imbalance", "at least one"),
        ({"n_trials": 0}, "n_trials", "between 1 and"),
        ({"n_trials": -3}, "n_trials", "between 1 and"),
        ({"model_name": "Bad Name!"}, "model_name", "lowercase"),
        ({"metric": "accuracy"}, "metric", "not a valid choice"),
        ({"timeout_s": 0}, "timeout_s", "positive"),
        ({"val_fraction": 0.9}, "val_fraction", "between 0.05 and 0.4"),
    ],
)
def test_bad_requests_are_400_naming_the_field(api_client, dataset, payload, field, words):
    body = {"dataset": dataset.pk, "model_name": "synth", **payload}

    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["field"].split(".")[0] == field
    assert words in response.json()["detail"]
    assert not TrainingJob.objects.exists()


def test_dataset_without_target_needs_one(api_client):
    dataset = dataset_generate_synthetic(params=SYNTHETIC_REFERENCE)[0]
    Dataset.objects.filter(pk=dataset.pk).update(target="", target_kind="", target_classes=[])

    response = api_client.post(URL, {"dataset": dataset.pk, "model_name": "m"}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "target"
    assert "has no target" in response.json()["detail"]


def test_schema_mismatch_with_an_existing_model_is_400(api_client, dataset):
    # given a model whose versions were trained on other features
    (version,) = make_versions("churn", count=1)
    version.signature = {
        "target": "label",
        "class_labels": ["negative", "positive"],
        "features": [{"name": "tenure", "kind": "numeric"}],
    }
    version.save()

    # when the synthetic dataset is trained under that model's name
    response = api_client.post(URL, {"dataset": dataset.pk, "model_name": "churn"}, format="json")

    # then the mismatch is named
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "model_name"
    assert "missing or changed: tenure" in body["detail"]
    assert "new or changed: channel" in body["detail"]


def test_cancel_a_queued_job_and_cancel_again_is_409(api_client, dataset):
    job_id = api_client.post(URL, {"dataset": dataset.pk, "model_name": "m"}, format="json").json()[
        "id"
    ]

    first = api_client.post(f"{URL}{job_id}/cancel/")
    second = api_client.post(f"{URL}{job_id}/cancel/")

    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    assert second.status_code == 409


def test_sqlite_runs_parallel_jobs_with_one_worker(api_client, dataset, settings):
    from django.db import connection

    response = api_client.post(
        URL,
        {"dataset": dataset.pk, "model_name": "m", "parallelism": 3, "n_trials": 6},
        format="json",
    )

    job = TrainingJob.objects.get(pk=response.json()["id"])
    expected = 3 if connection.vendor == "postgresql" else 1
    assert job.parallelism == expected
    assert job.config["parallelism_requested"] == 3


@pytest.mark.parametrize(
    "payload",
    [
        {"families": "mlp"},
        {"n_trials": "many"},
        {"n_trials": 10**12},
        {"timeout_s": "nan"},
        {"timeout_s": "inf"},
        {"val_fraction": "NaN"},
        {"seed": -1},
        {"parallelism": 0},
        {"max_epochs": 0},
        {"dataset": "abc"},
        {"dataset": None},
        {"model_name": ""},
        {"model_name": "x" * 101},
        {"target": None},
        {"imbalance": [None]},
    ],
)
def test_malformed_values_are_400_never_500(api_client, dataset, payload):
    body = {"dataset": dataset.pk, "model_name": "synth", **payload}

    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400, (payload, response.content[:300])
    assert response.json()["detail"]
    assert not TrainingJob.objects.exists()
