"""The prediction log's insert path, committed for real (outside a test transaction)."""

import time
import uuid

import numpy as np
import pytest
from django.db import DatabaseError, connection

from inference.ids import new_prediction_ids
from inference.models import PredictionLog
from inference.pipeline import Scored
from inference.services import prediction_logs_write
from inference.serving.cache import Target, model_cache
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


def test_the_log_row_matches_the_model_columns():
    # given the one definition of a log row and the ORM model of the table
    from django.db import models as django_models

    from inference.serving.logrow import FEEDBACK_COLUMNS, JSON_COLUMNS, LOG_COLUMNS

    model_fields = {f.column: f for f in PredictionLog._meta.concrete_fields}

    # then the write path fills every column but those the feedback service fills later
    assert set(LOG_COLUMNS) == set(model_fields) - FEEDBACK_COLUMNS
    assert FEEDBACK_COLUMNS <= set(model_fields)
    # and its JSON columns are the model's JSON fields
    json_fields = {c for c, f in model_fields.items() if isinstance(f, django_models.JSONField)}
    assert json_fields == JSON_COLUMNS


def test_copy_text_parses_back_into_log_rows():
    # given a request's rows with every awkward value the COPY text format has to escape
    from datetime import UTC, datetime

    from inference.services.prediction_log import copy_rows_text
    from inference.serving.logrow import LOG_COLUMNS, LogRow

    target = Target(
        model_id=7,
        model_name="m",
        version_id=9,
        version=2,
        stage="production",
        manifest_sha256="0" * 64,
    )
    ids = new_prediction_ids(2)
    instances = [{"a": "tab\there", "b": 'back\\slash "q"'}, {"a": "new\nline", "b": None}]
    probabilities = [{"x\ty": 0.25, "z": 0.75}, {"x\ty": 0.5, "z": 0.5}]
    created = datetime(2026, 12, 4, 3, 0, 0, 123456, tzinfo=UTC)

    # when they are formatted for COPY and each line is parsed as PostgreSQL's text format
    text = copy_rows_text(
        target=target,
        ids=ids,
        instances=instances,
        labels=["a\\b", "z"],
        probabilities=probabilities,
        unknown=[["a"], []],
        shared=(3, "challenger", "h" * 64, "rest", "req\t1"),
        latency_ms=1.5,
        created_at=created,
    ).decode()
    parsed = []
    for line in text.splitlines():
        cells = [_unescape_copy(cell) for cell in line.split("\t")]
        assert len(cells) == len(LOG_COLUMNS)
        parsed.append(dict(zip(LOG_COLUMNS, cells, strict=True)))

    # then every column holds its LogRow field, in LOG_COLUMNS order
    import json

    for i, row in enumerate(parsed):
        expected = LogRow(
            id=ids[i],
            registered_model_id=7,
            model_version_id=9,
            ab_test_id=3,
            arm="challenger",
            shadow_of=None,
            unit_hash="h" * 64,
            source="rest",
            request_id="req\t1",
            features=instances[i],
            prediction=["a\\b", "z"][i],
            probabilities=probabilities[i],
            unknown_categories=[["a"], []][i],
            latency_ms=1.5,
            created_at=created,
        )
        got = {
            **row,
            "registered_model_id": int(row["registered_model_id"]),
            "model_version_id": int(row["model_version_id"]),
            "ab_test_id": int(row["ab_test_id"]),
            "features": json.loads(row["features"]),
            "probabilities": json.loads(row["probabilities"]),
            "unknown_categories": json.loads(row["unknown_categories"]),
            "latency_ms": float(row["latency_ms"]),
            "created_at": datetime.fromisoformat(row["created_at"]),
        }
        assert LogRow(**got) == expected


def _unescape_copy(cell: str):
    """PostgreSQL COPY text format: \\N is NULL, backslash escapes \\t \\n \\r \\\\."""
    if cell == "\\N":
        return None
    out, i = [], 0
    escapes = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
    while i < len(cell):
        if cell[i] == "\\":
            out.append(escapes[cell[i + 1]])
            i += 2
        else:
            out.append(cell[i])
            i += 1
    return "".join(out)
