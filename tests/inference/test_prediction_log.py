"""The prediction log's insert path, committed for real (outside a test transaction)."""

import uuid

import numpy as np
import pytest
from django.db import IntegrityError, connection

from inference.cache import Target, model_cache
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
def test_failed_insert_leaves_the_connection_usable():
    # given a target whose version does not exist (a foreign key the database refuses)
    version = register("logreg")
    ghost = Target(
        model_id=version.registered_model_id,
        model_name="adult",
        version_id=version.pk + 1000,
        version=99,
        stage="production",
        manifest_sha256="",
    )

    # when the insert fails
    with pytest.raises(IntegrityError):
        prediction_logs_write(
            target=ghost,
            ids=[uuid.uuid4()],
            instances=[{"age": 1}],
            scored=_scored(1),
            class_labels=["<=50K", ">50K"],
            unit_hash="",
            source="rest",
            request_id="",
            latency_ms=1.0,
        )

    # then nothing was written and the same connection goes on working
    assert connection.get_autocommit()
    assert PredictionLog.objects.count() == 0
    real = Target(**{**ghost.__dict__, "version_id": version.pk, "version": 1})
    prediction_logs_write(
        target=real,
        ids=[uuid.uuid4(), uuid.uuid4()],
        instances=[{"age": 1}, {"age": 2}],
        scored=_scored(2),
        class_labels=["<=50K", ">50K"],
        unit_hash="",
        source="rest",
        request_id="",
        latency_ms=1.0,
    )
    assert PredictionLog.objects.count() == 2
