"""The buffered prediction-log writer (PostgreSQL): rows arrive within the flush interval,
an exit writes what is pending, refused rows cost only their own request, a dropped
connection is retried, and feedback sent at once still finds its prediction.

The graceful shutdown of real gunicorn workers is in test_promotion_across_processes.py.
"""

import time

import pytest
from django.db import connection
from django.utils import timezone

from inference.ids import new_prediction_ids
from inference.models import PredictionLog
from inference.services import feedback, prediction_log
from inference.services.prediction_log import copy_rows_text
from inference.serving.cache import Target, model_cache
from inference.serving.logwriter import DROPPED_ROWS, BufferedLogWriter
from tests.conftest import wait_for
from tests.inference.models import feature_rows, register

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the writer serves PostgreSQL only"
    ),
]


@pytest.fixture
def buffered(settings, monkeypatch):
    """The writer on, as a fresh instance in place of the process's, closed (its thread and
    connection ended) after the test."""
    settings.PREDICTION_LOG_BUFFERED = True
    settings.PREDICTION_LOG_FLUSH_SECONDS = 0.05
    model_cache.clear()
    writer = BufferedLogWriter()
    monkeypatch.setattr(prediction_log, "log_writer", writer)
    monkeypatch.setattr(feedback, "log_writer", writer)
    yield settings
    writer.close()
    assert writer.pending_rows == 0


def _target(version) -> Target:
    return Target(
        model_id=version.registered_model_id,
        model_name="adult",
        version_id=version.pk,
        version=version.version,
        stage="production",
        manifest_sha256="",
    )


def _rows(version, ids: list[str]) -> bytes:
    n = len(ids)
    return copy_rows_text(
        target=_target(version),
        ids=ids,
        instances=[{"age": i} for i in range(n)],
        labels=[">50K"] * n,
        probabilities=[{"<=50K": 0.25, ">50K": 0.75}] * n,
        unknown=[[] for _ in range(n)],
        shared=(None, "", "", "rest", "writer-test"),
        latency_ms=1.0,
        created_at=timezone.now(),
    )


def _logged(ids) -> int:
    return PredictionLog.objects.filter(id__in=ids).count()


def test_api_rows_reach_the_log_within_the_flush_interval(api_client, buffered):
    # given a production model and the writer on
    register("logreg")

    # when a client predicts 50 rows
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(50)}, format="json"
    )

    # then the rows are in the log shortly after, each as answered
    assert response.status_code == 200, response.content
    answers = response.json()["predictions"]
    ids = [p["id"] for p in answers]
    wait_for(lambda: _logged(ids) == 50, timeout=5, what="rows written by the log writer")
    log = PredictionLog.objects.get(id=ids[7])
    assert log.features == feature_rows(50)[7]
    assert log.prediction == answers[7]["label"]
    assert log.probabilities == pytest.approx(answers[7]["probabilities"])


def test_feedback_sent_at_once_finds_its_prediction(api_client, buffered):
    # given a writer that would hold rows for a minute
    buffered.PREDICTION_LOG_FLUSH_SECONDS = 60
    register("logreg")
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(1)}, format="json"
    )
    prediction = response.json()["predictions"][0]

    # when its label is sent straight after the answer
    answer = api_client.post(
        f"/api/v1/predictions/{prediction['id']}/feedback",
        {"label": prediction["label"]},
        format="json",
    )

    # then the feedback made the writer flush at once (its interval is a minute, and feedback
    # waits well under a second for a new id) instead of calling the prediction unknown; how
    # long that takes is measured by bench/logwriter_flush.py
    assert answer.status_code == 201, answer.content
    assert PredictionLog.objects.get(id=prediction["id"]).label == prediction["label"]


def test_close_writes_what_is_pending(settings):
    # given a writer whose interval is far away, holding two requests' rows
    settings.PREDICTION_LOG_FLUSH_SECONDS = 60
    version = register("logreg")
    writer = BufferedLogWriter()
    first, second = new_prediction_ids(3), new_prediction_ids(2)
    assert writer.submit(_rows(version, first), 3)
    assert writer.submit(_rows(version, second), 2)
    time.sleep(0.2)
    assert _logged(first + second) == 0

    # when it is closed (gunicorn's worker_exit, atexit)
    writer.close()

    # then every row is written, and the closed writer hands new rows back to the caller
    assert _logged(first + second) == 5
    assert writer.pending_rows == 0
    assert not writer.submit(_rows(version, new_prediction_ids(1)), 1)


def test_a_refused_request_costs_only_its_own_rows(settings):
    # given three requests in one flush, the second repeating an id of the first
    settings.PREDICTION_LOG_FLUSH_SECONDS = 60
    version = register("logreg")
    writer = BufferedLogWriter()
    first, third = new_prediction_ids(2), new_prediction_ids(2)
    dropped = DROPPED_ROWS.labels("refused")._value.get()
    writer.submit(_rows(version, first), 2)
    writer.submit(_rows(version, [first[0], new_prediction_ids(1)[0]]), 2)
    writer.submit(_rows(version, third), 2)

    # when they are flushed
    writer.close()

    # then the first and third are written, and the second's two rows are counted as dropped
    assert _logged(first + third) == 4
    assert PredictionLog.objects.count() == 4
    assert DROPPED_ROWS.labels("refused")._value.get() == dropped + 2


def test_a_dropped_connection_is_retried(settings):
    # given a writer that has written once, and whose connection the server then ends
    settings.PREDICTION_LOG_FLUSH_SECONDS = 0.05
    version = register("logreg")
    writer = BufferedLogWriter()
    before = new_prediction_ids(1)
    writer.submit(_rows(version, before), 1)
    assert writer.flush(timeout=10)
    backend = writer._session_ready.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])

    # when more rows arrive
    after = new_prediction_ids(4)
    writer.submit(_rows(version, after), 4)

    # then they are written over a new connection
    assert writer.flush(timeout=10)
    assert writer._session_ready.info.backend_pid not in (0, backend)
    writer.close()
    assert _logged(before + after) == 5


def test_a_full_buffer_makes_the_request_write_itself(api_client, buffered):
    # given a buffer that takes no rows
    buffered.PREDICTION_LOG_BUFFER_ROWS = 0
    register("logreg")

    # when a client predicts
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(3)}, format="json"
    )

    # then the rows are in the log when the answer arrives
    assert response.status_code == 200
    assert _logged([p["id"] for p in response.json()["predictions"]]) == 3
