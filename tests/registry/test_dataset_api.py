"""The datasets API: status codes, permissions and error bodies."""

import pytest
from django.conf import settings

from registry.models import Dataset, ModelVersion, RegisteredModel
from tests.registry.csv_samples import as_upload, good_csv
from tests.registry.test_dataset_ingest import BAD_FILES, stored_files

pytestmark = pytest.mark.django_db
URL = "/api/v1/datasets/"


def test_upload_creates_a_dataset(api_client):
    # given a valid CSV
    # when it is posted as multipart with a target
    response = api_client.post(
        URL, {"file": as_upload(good_csv()), "name": "churn", "target": "churn"}, format="multipart"
    )

    # then it is created and described
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "churn"
    assert body["row_count"] == 120
    assert body["target_kind"] == "binary"
    assert [c["name"] for c in body["columns"]][:3] == ["customer_id", "age", "plan"]
    assert Dataset.objects.get().created_by.username == "ada"


def test_upload_of_an_identical_file_answers_200_with_the_existing_dataset(api_client):
    # given a stored dataset
    first = api_client.post(URL, {"file": as_upload(good_csv())}, format="multipart").json()

    # when the same file is posted again
    response = api_client.post(URL, {"file": as_upload(good_csv())}, format="multipart")

    # then the existing one comes back
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_upload_answers_400_naming_the_problem(api_client, case):
    # given a bad file
    content, message, target = BAD_FILES[case]

    # when it is uploaded
    response = api_client.post(
        URL, {"file": as_upload(content), "target": target}, format="multipart"
    )

    # then 400 names the problem and nothing is stored
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert message in body["detail"]
    assert body["field"] in ("file", "target")
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_upload_over_the_limit_answers_400_and_stores_nothing(api_client, settings):
    # given a 4 KB limit
    settings.DATASET_MAX_UPLOAD_BYTES = 4096

    # when a 1 MB file is uploaded
    response = api_client.post(URL, {"file": as_upload(good_csv(rows=20_000))}, format="multipart")

    # then 400 names the limit; neither a row nor a file remains
    assert response.status_code == 400
    assert "larger than the 4.0 KB upload limit" in response.json()["detail"]
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_upload_without_a_file_answers_400(api_client):
    response = api_client.post(URL, {"name": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("file:")


def test_list_and_retrieve(api_client):
    # given two datasets
    api_client.post(URL, {"file": as_upload(good_csv(seed=1))}, format="multipart")
    api_client.post(URL, {"file": as_upload(good_csv(seed=2))}, format="multipart")

    # when listed and one retrieved
    listing = api_client.get(URL).json()
    detail = api_client.get(f"{URL}{listing['results'][0]['id']}/").json()

    # then the list is paginated without column profiles; the detail has them
    assert listing["count"] == 2
    assert "columns" not in listing["results"][0]
    assert len(detail["columns"]) == 7


def test_patch_sets_the_target(api_client):
    # given a dataset without a target
    pk = api_client.post(URL, {"file": as_upload(good_csv())}, format="multipart").json()["id"]

    # when the target is set, then set to a missing column
    ok = api_client.patch(f"{URL}{pk}/", {"target": "plan"}, format="json")
    bad = api_client.patch(f"{URL}{pk}/", {"target": "nope"}, format="json")

    # then the first succeeds and the second is a 400 naming the field
    assert ok.status_code == 200
    assert ok.json()["target_kind"] == "multiclass"
    assert bad.status_code == 400
    assert bad.json()["field"] == "target"
    assert Dataset.objects.get().target == "plan"


def test_delete_is_staff_only(api_client, staff_api_client):
    # given a dataset
    pk = api_client.post(URL, {"file": as_upload(good_csv())}, format="multipart").json()["id"]

    # when a non-staff user, then a staff user deletes it
    refused = api_client.delete(f"{URL}{pk}/")
    deleted = staff_api_client.delete(f"{URL}{pk}/")

    # then only the staff user succeeds
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This action is for staff users."
    assert deleted.status_code == 204
    assert not Dataset.objects.exists()


def test_delete_in_use_answers_409(staff_api_client):
    # given a dataset used by a model version
    pk = staff_api_client.post(URL, {"file": as_upload(good_csv())}, format="multipart").json()[
        "id"
    ]
    model = RegisteredModel.objects.create(name="m")
    ModelVersion.objects.create(registered_model=model, version=1, dataset_id=pk)

    # when it is deleted
    response = staff_api_client.delete(f"{URL}{pk}/")

    # then 409 explains why and the dataset stays
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "used by 1 model version" in response.json()["detail"]
    assert Dataset.objects.filter(pk=pk).exists()


def test_synthetic_action_generates_a_dataset_with_known_drift(api_client):
    # when a drifted synthetic dataset is requested
    response = api_client.post(
        f"{URL}synthetic/",
        {"rows": 500, "features": 4, "mean_shift": 2.0, "drift_features": 1, "seed": 3},
        format="json",
    )

    # then it is stored with its parameters and the drifted features named
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["origin"] == "synthetic"
    assert body["row_count"] == 500
    assert body["target"] == "label"
    assert body["source_params"]["drifted"] == ["x0"]


def test_synthetic_action_rejects_bad_parameters(api_client):
    response = api_client.post(f"{URL}synthetic/", {"rows": 10, "label_noise": 0.9}, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"rows", "label_noise"}
    assert not Dataset.objects.exists()


def test_anonymous_requests_get_401(client):
    response = client.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_unknown_dataset_answers_404_json(api_client):
    response = api_client.get(f"{URL}999999/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_data_dir_is_the_test_folder():
    # Guards the suite itself: tests must never write into a developer's ./var.
    assert "modelyard-test-" in str(settings.DATA_DIR)
