"""The prediction log's insert path, committed for real (outside a test transaction)."""

import time
import uuid

import numpy as np
import pytest
from django.db import DatabaseError, connection

from inference.cache import Target, model_cache
from inference.ids import new_prediction_ids
from inference.models import PredictionLog
from inference.pipeline import Scored
from inference.services import prediction_logs_write
from tests.inference.models import feature_rows, register


def _scored(n: int) -> Scored:
    proba = np.tile([0.25, 0.75], (n, 1))
    return Scored(proba=proba, labels=[">50K"] * n, unknown=[[] for _ in range(n)])


@pytest.mark.django_db(transaction=True)
def test_logged_rows_read_back_unchanged_through_the_orm(api_client):
    # given a production model, served outside any transaction (as gunicorn serves it)
    model_cache.clear()
    version = register("logreg")
    rows = feature_rows(3)
    rows[0]["capital_gain"] = 10**20  # larger than 64 bits: stored as the client sent it
    rows[1]["workclass"] = 'quote " and \\ backslash, ünïcode'

    # when they are predicted
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": rows, "request_id": "r-1"}, format="json"
    )

    # then every field of every row reads back as written
    assert response.status_code == 200, response.content
    for row, answer in zip(rows, response.json()["predictions"], strict=True):
        log = PredictionLog.objects.get(id=answer["id"])
        assert log.features == row
        assert log.probabilities == pytest.approx(answer["probabilities"])
        assert log.prediction == answer["label"]
        assert (log.model_version_id, log.registered_model_id) == (
            version.pk,
            version.registered_model_id,
        )
        assert (log.source, log.request_id, log.label) == ("rest", "r-1", None)
        assert log.created_at is not None
    assert PredictionLog.objects.get(
        id=response.json()["predictions"][1]["id"]
    ).unknown_categories == ["workclass"]


@pytest.mark.django_db(transaction=True)
def test_failed_write_leaves_nothing_and_the_connection_usable():
    # given a batch whose second row the database refuses (its id repeats the first's)
    version = register("logreg")
    target = Target(
        model_id=version.registered_model_id,
        model_name="adult",
        version_id=version.pk,
        version=1,
        stage="production",
        manifest_sha256="",
    )
    write = dict(
        target=target,
        class_labels=["<=50K", ">50K"],
        unit_hash="",
        source="rest",
        request_id="",
        latency_ms=1.0,
    )

    # when the write fails
    same = new_prediction_ids(1) * 2
    with pytest.raises(DatabaseError):
        prediction_logs_write(
            ids=same,
            instances=[{"age": 1}, {"age": 2}],
            scored=_scored(2),
            **write,
        )

    # then no row of the batch was written and the same connection goes on working
    assert connection.get_autocommit()
    assert not connection.in_atomic_block
    assert PredictionLog.objects.count() == 0
    prediction_logs_write(
        ids=new_prediction_ids(2), instances=[{"age": 1}, {"age": 2}], scored=_scored(2), **write
    )
    assert PredictionLog.objects.count() == 2


def test_prediction_ids_are_time_ordered_uuid7():
    # when ids are made in two batches a few milliseconds apart (the small and the large
    # batch are made two ways)
    first = new_prediction_ids(500)
    time.sleep(0.005)
    second = new_prediction_ids(3)

    # then each is a distinct RFC 9562 version-7 UUID, and the later batch sorts after
    parsed = [uuid.UUID(i) for i in first + second]
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    assert len(set(parsed)) == 503
    assert [str(u) for u in parsed] == first + second  # canonical lower-case form
    assert max(first) < min(second)
    millis = int(first[0].replace("-", "")[:12], 16)
    assert abs(millis / 1000 - time.time()) < 5


@pytest.mark.django_db(transaction=True)
def test_a_nul_character_is_a_400_naming_the_field(api_client):
    # given a production model
    model_cache.clear()
    register("logreg")
    row = feature_rows(1)[0]

    # when a category or the request id holds a NUL character
    bad_category = api_client.post(
        "/api/v1/models/adult/predict",
        {"instances": [{**row, "occupation": "a\x00b"}]},
        format="json",
    )
    bad_request_id = api_client.post(
        "/api/v1/models/adult/predict",
        {"instances": [row], "request_id": "r\x00"},
        format="json",
    )

    # then both are refused with the field named, and nothing is logged
    assert bad_category.status_code == 400, bad_category.content
    assert bad_category.json()["field"] == "occupation"
    assert bad_category.json()["row"] == 0
    assert bad_request_id.status_code == 400
    assert bad_request_id.json()["field"] == "request_id"
    assert PredictionLog.objects.count() == 0
