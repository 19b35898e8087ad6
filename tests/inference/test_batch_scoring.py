"""Batch scoring: a CSV uploaded against a model, scored by a worker into a CSV with ids,
predictions and probabilities, bad rows reported in place."""

import csv
import io
import shutil

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.test import Client, override_settings
from rest_framework.test import APIClient

from core.errors import InvalidInput
from inference.models import BatchScoringJob, PredictionLog
from inference.services import batch_scoring_job_create
from inference.serving.cache import model_cache
from inference.tasks import score_batch_task
from registry.services import model_version_load
from tests.conftest import wait_for
from tests.inference.models import feature_rows, register

BATCH_DIR = settings.DATA_DIR / "batch"


@pytest.fixture(autouse=True)
def _fresh_batch_files():
    model_cache.clear()
    shutil.rmtree(BATCH_DIR, ignore_errors=True)
    yield
    model_cache.clear()


def _cell(value) -> str:
    return "" if value is None else str(value)


def make_csv(rows: list[dict], *, extra: bool = True, spoil: dict | None = None) -> bytes:
    """Feature rows as a CSV, with an id and a note column the model does not read.

    `spoil` maps a 0-based row index to the record to write instead (a list of cells).
    """
    names = list(rows[0])
    header = ["customer_id", *names, "note"] if extra else names
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(rows):
        if spoil and i in spoil:
            writer.writerow(spoil[i])
            continue
        cells = [_cell(row[n]) for n in names]
        writer.writerow([f"c{i}", *cells, f"note {i}"] if extra else cells)
    return out.getvalue().encode()


def spoilt(rows: list[dict], i: int, **changes) -> list[str]:
    row = {**rows[i], **changes}
    return [f"c{i}", *[_cell(v) for v in row.values()], f"note {i}"]


def upload(client, content: bytes, name="customers.csv", **fields):
    file = io.BytesIO(content)
    file.name = name
    return client.post("/api/v1/batch-jobs/", {"file": file, **fields}, format="multipart")


def read_output(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def download(client, job_id) -> bytes:
    response = client.get(f"/api/v1/batch-jobs/{job_id}/download/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv"
    return b"".join(response.streaming_content)


def expected_proba(version, rows: list[dict]) -> np.ndarray:
    return model_version_load(version=version).predict_proba(pd.DataFrame(rows))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_csv_is_scored_on_a_real_worker_with_bad_rows_reported_in_place(
    celery_worker_process, api_client
):
    # given a model in production and 40 Adult rows with two bad ones: a word in a numeric
    # column and a record with one field too many, plus two columns the model does not read
    version = register("hgb")
    rows = feature_rows(40)
    content = make_csv(
        rows,
        spoil={
            4: spoilt(rows, 4, age="abc"),
            11: [*spoilt(rows, 11), "surplus"],
        },
    )

    # when the file is uploaded through the API and a worker scores it
    response = upload(api_client, content, model="adult")
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    assert response.json()["version"] == 1

    def finished():
        job = BatchScoringJob.objects.get(pk=job_id)
        return job if job.is_finished else None

    job = wait_for(finished, timeout=120, interval=0.25, what=f"batch job {job_id}")

    # then it succeeded with every row counted and the two bad ones reported
    assert job.status == BatchScoringJob.Status.SUCCEEDED, job.error
    assert (job.rows_total, job.rows_done, job.rows_failed) == (40, 40, 2)
    assert job.progress == 1.0
    # and the output has one line per input row, in order, the extra columns passed through
    output = read_output(download(api_client, job_id))
    assert [line["customer_id"] for line in output] == [f"c{i}" for i in range(40)]
    assert output[0]["note"] == "note 0"
    labels = version.class_labels
    assert list(output[0]) == [
        "customer_id",
        *rows[0],
        "note",
        "prediction_id",
        "prediction",
        *[f"proba_{c}" for c in labels],
        "unknown_categories",
        "error",
    ]
    # and the bad rows carry their error and no prediction
    assert output[4]["error"] == "row 5: 'age' must be a number, not a string ('abc')"
    width = len(rows[0]) + 2
    assert output[11]["error"] == f"row 12: {width + 1} fields, the header has {width}"
    for bad in (output[4], output[11]):
        assert bad["prediction"] == bad["prediction_id"] == ""
        assert all(bad[f"proba_{c}"] == "" for c in labels)
    # and the good rows' probabilities are the registry loader's on the same rows
    good = [i for i in range(40) if i not in (4, 11)]
    served = np.array([[float(output[i][f"proba_{c}"]) for c in labels] for i in good])
    expected = expected_proba(version, [rows[i] for i in good])
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)
    assert all(output[i]["error"] == "" for i in good)
    # and each good row is in the prediction log under its id, as a batch prediction
    logs = {str(p.id): p for p in PredictionLog.objects.all()}
    assert set(logs) == {output[i]["prediction_id"] for i in good}
    first = logs[output[0]["prediction_id"]]
    assert first.source == PredictionLog.Source.BATCH
    assert first.request_id == f"batch-{job_id}"
    assert first.prediction == output[0]["prediction"]
    assert first.features == rows[0]
    # and the input file is gone once the job is done; the output stays
    assert not job.input_file.exists()
    assert job.output_file.exists()

    # and a redelivered message for the finished job does nothing
    assert score_batch_task.run(job_id) is None
    assert PredictionLog.objects.count() == 38


@pytest.mark.django_db
@override_settings(BATCH_SCORING_CHUNK_ROWS=7)
def test_chunks_with_bad_rows_score_their_good_rows(user):
    # given 30 rows in chunks of 7, spoilt in different ways across the chunks
    version = register("logreg")
    rows = feature_rows(30)
    content = make_csv(
        rows,
        spoil={
            0: spoilt(rows, 0, hours_per_week="forty"),
            8: spoilt(rows, 8, age="inf"),
            9: spoilt(rows, 9)[:5],  # a short record: 5 fields
            20: spoilt(rows, 20, education="?", capital_gain="NA", age=""),  # missing markers
            21: spoilt(rows, 21, native_country="Atlantis"),  # a category training never saw
        },
    )
    job = batch_scoring_job_create(
        model_name="adult", file=io.BytesIO(content), filename="x.csv", actor=user
    )
    assert job.status == BatchScoringJob.Status.QUEUED
    assert job.input_file.read_bytes() == content

    # when the task runs (in this process; the test transaction never enqueues it)
    status = score_batch_task(job.pk)

    # then the job succeeded with the three bad rows reported where they were
    job.refresh_from_db()
    assert status == "succeeded", job.error
    assert (job.rows_total, job.rows_done, job.rows_failed) == (30, 30, 3)
    output = read_output(job.output_file.read_bytes())
    assert [line["customer_id"] for line in output[:9]] == [f"c{i}" for i in range(9)]
    assert len(output) == 30
    errors = {i: line["error"] for i, line in enumerate(output) if line["error"]}
    assert errors == {
        0: "row 1: 'hours_per_week' must be a number, not a string ('forty')",
        8: "row 9: 'age' is inf; send a finite number, or null for a missing value",
        9: f"row 10: 5 fields, the header has {len(rows[0]) + 2}",
    }
    # and a short record keeps its fields, padded to the header's width
    assert output[9]["customer_id"] == "c9" and output[9]["note"] == ""
    # and missing markers are missing values, unknown categories are served and reported
    missing = {**rows[20], "education": None, "capital_gain": None, "age": None}
    unknown = {**rows[21], "native_country": "Atlantis"}
    good = [i for i in range(30) if i not in errors]
    frame_rows = [missing if i == 20 else unknown if i == 21 else rows[i] for i in good]
    labels = version.class_labels
    served = np.array([[float(output[i][f"proba_{c}"]) for c in labels] for i in good])
    np.testing.assert_allclose(served, expected_proba(version, frame_rows), rtol=0, atol=1e-6)
    assert output[21]["unknown_categories"] == "native_country"
    assert PredictionLog.objects.get(id=output[20]["prediction_id"]).features == missing
    assert PredictionLog.objects.filter(request_id=f"batch-{job.pk}").count() == 27

    # and running the task again (a redelivered message) changes nothing
    assert score_batch_task(job.pk) is None
    assert PredictionLog.objects.count() == 27


@pytest.mark.django_db
def test_a_job_whose_version_fails_its_checksums_ends_failed_with_the_reason(user):
    # given a queued job whose version's artifacts were changed after the upload
    version = register("logreg")
    job = batch_scoring_job_create(
        model_name="adult", file=io.BytesIO(make_csv(feature_rows(5))), actor=user
    )
    tampered = version.artifact_dir / "preprocessor.json"
    tampered.write_bytes(tampered.read_bytes() + b" ")
    model_cache.clear()

    # when the task runs
    score_batch_task(job.pk)

    # then the job failed with the loader's reason, logged nothing and kept no files
    job.refresh_from_db()
    assert job.status == BatchScoringJob.Status.FAILED
    assert "checksum mismatch" in job.error
    assert job.finished_at is not None
    assert not PredictionLog.objects.exists()
    assert not job.input_file.exists()
    assert list(job.input_file.parent.iterdir()) == []


def _stored_nothing():
    assert not BatchScoringJob.objects.exists()
    assert not BATCH_DIR.exists() or not any(BATCH_DIR.iterdir())
    assert not list(settings.UPLOAD_TMP_DIR.glob("upload-*"))


@pytest.mark.django_db
def test_a_header_without_a_feature_is_a_400_naming_it_and_stores_nothing(api_client):
    # given a model and a CSV without its `age` and `workclass` columns
    register("logreg")
    rows = [{k: v for k, v in r.items() if k not in ("age", "workclass")} for r in feature_rows(5)]

    # when it is uploaded
    response = upload(api_client, make_csv(rows), model="adult")

    # then the answer is a 400 naming the missing columns, and nothing was stored
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and body["field"] == "file"
    assert "lacks 2 feature column(s) that adult v1 reads: age, workclass" in body["detail"]
    _stored_nothing()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "content", "field", "message"),
    [
        ({"model": "nope"}, None, "model", "There is no model named 'nope'."),
        ({"model": "adult", "version": 9}, None, "version", "Model 'adult' has no version 9."),
        ({"model": "adult", "version": 1, "stage": "staging"}, None, "version", "not both"),
        ({"model": "adult"}, b"", "file", "The submitted file is empty."),
        ({"model": "adult"}, b"age,workclass\n", "file", "no data rows"),
        ({"model": "adult"}, b"prediction,error\n1,2\n", "file", "lacks"),
        ({}, None, "model", "This field is required."),
    ],
)
def test_bad_requests_are_400s_naming_the_problem(api_client, fields, content, field, message):
    register("logreg")
    if content is None:
        content = make_csv(feature_rows(3))

    response = upload(api_client, content, **fields)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field
    assert message in body["detail"]
    _stored_nothing()


@pytest.mark.django_db
def test_columns_named_like_the_output_ones_are_refused(api_client):
    register("logreg")
    rows = [{**r, "prediction": "x"} for r in feature_rows(3)]

    response = upload(api_client, make_csv(rows), model="adult")

    assert response.status_code == 400
    assert "already has column(s) prediction" in response.json()["detail"]
    _stored_nothing()


@pytest.mark.django_db
@override_settings(BATCH_SCORING_MAX_BYTES=1000)
def test_a_file_over_the_limit_is_refused(api_client):
    register("logreg")

    response = upload(api_client, make_csv(feature_rows(50)), model="adult")

    assert response.status_code == 400
    assert response.json()["detail"] == "The file is larger than the 1000 bytes upload limit."
    _stored_nothing()


@pytest.mark.django_db
def test_download_before_the_job_finishes_is_a_409(api_client):
    # given a queued job (no worker runs in this test)
    register("logreg")
    response = upload(api_client, make_csv(feature_rows(3)), model="adult")
    job_id = response.json()["id"]
    assert response.json()["status"] == "queued"
    assert response.json()["download_url"] is None

    # when its output is asked for
    download = api_client.get(f"/api/v1/batch-jobs/{job_id}/download/")

    # then the answer is a conflict naming the status
    assert download.status_code == 409
    assert download.json() == {
        "error": "conflict",
        "detail": f"Batch job {job_id} is queued; its output can be downloaded once it has "
        "succeeded.",
        "status": "queued",
    }


@pytest.mark.django_db
def test_list_and_retrieve_show_progress(api_client):
    register("logreg")
    register("logreg", name="other")
    job_id = upload(api_client, make_csv(feature_rows(3)), model="adult").json()["id"]
    upload(api_client, make_csv(feature_rows(3)), model="other")
    BatchScoringJob.objects.filter(pk=job_id).update(status="running", rows_total=4, rows_done=1)

    listed = api_client.get("/api/v1/batch-jobs/?model=adult").json()
    job = api_client.get(f"/api/v1/batch-jobs/{job_id}/").json()

    assert [j["id"] for j in listed["results"]] == [job_id]
    assert (job["model"], job["version"], job["status"], job["progress"]) == (
        "adult",
        1,
        "running",
        0.25,
    )
    assert job["original_filename"] == "customers.csv"
    assert job["created_by"] == "ada"


@pytest.mark.django_db
def test_batch_api_needs_authentication():
    # given a queued job and a client without credentials
    version = register("logreg")
    job = batch_scoring_job_create(model_name="adult", file=io.BytesIO(make_csv(feature_rows(3))))
    anonymous = APIClient()

    # when it lists, reads, uploads or downloads
    responses = [
        anonymous.get("/api/v1/batch-jobs/"),
        anonymous.get(f"/api/v1/batch-jobs/{job.pk}/"),
        anonymous.get(f"/api/v1/batch-jobs/{job.pk}/download/"),
        upload(anonymous, make_csv(feature_rows(3)), model="adult"),
    ]

    # then each is a 401 asking for a token, and no job was added
    for response in responses:
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    assert BatchScoringJob.objects.get() == job
    assert job.model_version == version


@pytest.mark.django_db
def test_the_service_refuses_a_missing_feature_without_storing_anything():
    register("logreg")
    rows = [{k: v for k, v in r.items() if k != "age"} for r in feature_rows(3)]

    with pytest.raises(InvalidInput, match="age"):
        batch_scoring_job_create(model_name="adult", file=io.BytesIO(make_csv(rows)))

    _stored_nothing()


# -- the pages -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_predict_page_form_queues_a_job_and_its_page_follows_it(page_client):
    # given a model in production
    register("logreg")

    # when a CSV is uploaded from the predict page's batch form
    file = io.BytesIO(make_csv(feature_rows(3)))
    file.name = "customers.csv"
    response = page_client.post("/predict/adult/batch/", {"file": file})

    # then the job is queued and the browser is sent to its page
    job = BatchScoringJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/predict/batch-jobs/{job.pk}/"
    page = page_client.get(response["Location"]).content.decode()
    assert f'data-poll="/predict/batch-jobs/{job.pk}/status/"' in page
    # and the predict page lists it
    listing = page_client.get("/predict/adult/").content.decode()
    assert f'href="/predict/batch-jobs/{job.pk}/"' in listing
    assert 'data-poll="/predict/adult/batch/rows/"' in listing


@pytest.mark.django_db
def test_a_finished_job_page_stops_polling_and_links_the_download(page_client):
    register("logreg")
    job = batch_scoring_job_create(model_name="adult", file=io.BytesIO(make_csv(feature_rows(4))))
    score_batch_task(job.pk)

    fragment = page_client.get(f"/predict/batch-jobs/{job.pk}/status/").content.decode()
    page = page_client.get(f"/predict/batch-jobs/{job.pk}/").content.decode()
    output = page_client.get(f"/api/v1/batch-jobs/{job.pk}/download/")

    assert "data-poll-stop" in fragment
    assert "data-poll=" not in page
    assert f'href="/api/v1/batch-jobs/{job.pk}/download/"' in page
    assert output.status_code == 200
    assert len(read_output(b"".join(output.streaming_content))) == 4


@pytest.mark.django_db
def test_the_batch_form_shows_a_missing_feature_as_a_form_error(page_client):
    register("logreg")
    rows = [{k: v for k, v in r.items() if k != "age"} for r in feature_rows(3)]
    file = io.BytesIO(make_csv(rows))
    file.name = "customers.csv"

    response = page_client.post("/predict/adult/batch/", {"file": file})

    assert response.status_code == 400
    assert (
        "lacks 1 feature column(s) that adult v1 reads: age"
        in (response.context["batch_form"].errors["file"][0])
    )
    _stored_nothing()


@pytest.mark.django_db
def test_the_batch_form_checks_the_csrf_token_after_swapping_the_upload_limit(user):
    # given a logged-in browser that enforces CSRF, on the predict page
    register("logreg")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/predict/adult/")
    token = browser.cookies["csrftoken"].value

    def post(**extra):
        file = io.BytesIO(make_csv(feature_rows(3)))
        file.name = "customers.csv"
        return browser.post("/predict/adult/batch/", {"file": file, **extra})

    # when the batch form is posted without the token, then with it
    refused = post()
    accepted = post(csrfmiddlewaretoken=token)

    # then the first is refused and only the second queued a job
    assert refused.status_code == 403
    assert accepted.status_code == 302
    assert BatchScoringJob.objects.count() == 1


@pytest.mark.django_db
@override_settings(BATCH_SCORING_MAX_BYTES=1000)
def test_the_batch_form_refuses_a_file_over_the_limit(page_client):
    register("logreg")
    file = io.BytesIO(make_csv(feature_rows(50)))
    file.name = "customers.csv"

    response = page_client.post("/predict/adult/batch/", {"file": file})

    assert response.status_code == 400
    assert response.context["batch_form"].non_field_errors() == [
        "The file is larger than the 1000 bytes upload limit."
    ]
    _stored_nothing()


@pytest.mark.django_db
def test_sweep_fails_silent_jobs_and_requeues_forgotten_ones(
    django_capture_on_commit_callbacks, settings
):
    # given a running job whose worker went silent (with a logged row) and a queued job
    # nobody picked up
    from datetime import timedelta

    from django.utils import timezone

    from inference.services import batch_scoring_jobs_sweep

    version = register("logreg")
    long_ago = timezone.now() - timedelta(hours=2)
    silent = BatchScoringJob.objects.create(
        registered_model=version.registered_model,
        model_version=version,
        status=BatchScoringJob.Status.RUNNING,
        input_path="batch/x/input.csv",
        heartbeat_at=long_ago,
    )
    alive = BatchScoringJob.objects.create(
        registered_model=version.registered_model,
        model_version=version,
        status=BatchScoringJob.Status.RUNNING,
        input_path="batch/y/input.csv",
        heartbeat_at=timezone.now(),
    )
    forgotten = BatchScoringJob.objects.create(
        registered_model=version.registered_model, model_version=version, input_path="z"
    )
    BatchScoringJob.objects.filter(pk=forgotten.pk).update(created_at=long_ago)
    PredictionLog.objects.create(
        registered_model=version.registered_model,
        model_version=version,
        request_id=f"batch-{silent.pk}",
        features={},
        prediction=">50K",
        probabilities={},
        latency_ms=1.0,
        created_at=timezone.now(),
    )

    # when the Beat sweep runs
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = batch_scoring_jobs_sweep()

    # then the silent job failed with the reason and its rows are gone; the live one is
    # untouched; the forgotten one is enqueued again
    assert outcome == {"failed_lost": 1, "requeued": 1}
    silent.refresh_from_db()
    assert silent.status == BatchScoringJob.Status.FAILED
    assert "Worker lost" in silent.error
    assert not PredictionLog.objects.filter(request_id=f"batch-{silent.pk}").exists()
    alive.refresh_from_db()
    assert alive.status == BatchScoringJob.Status.RUNNING
    # on commit: the lost job announced (a job.failed event) and the forgotten one re-sent
    assert len(callbacks) == 2
