"""A promotion reaches every web process once the resolution TTL (0.5 s) has passed (two real
gunicorn servers)."""

import json
import time
import urllib.error
import urllib.request

import pytest
from rest_framework.authtoken.models import Token

from registry.services import model_version_promote
from tests.conftest import wait_for
from tests.gunicorn_process import gunicorn_server
from tests.inference.models import feature_rows, register


def _predict(base: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base}/api/v1/models/adult/predict",
        data=json.dumps({"instances": feature_rows(1)}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.django_db(transaction=True)
def test_promotion_is_served_by_every_process_on_its_next_request_after_the_ttl(user, settings):
    # given v1 in production, v2 a candidate, and two web servers (one process each)
    v1 = register("logreg")
    v2 = register("mlp")
    v3 = register("logreg")
    token = Token.objects.create(user=user).key
    with gunicorn_server(workers=1) as first, gunicorn_server(workers=1) as second:
        servers = [first, second]
        # both have loaded v1 (and cached which version serves the model)
        for base in servers:
            status, body = _predict(base, token)
            assert (status, body["version"]) == (200, v1.version), body

        # when v2 is promoted and the resolution TTL has passed
        model_version_promote(version=v2, reason="test")
        time.sleep(settings.INFERENCE_RESOLVE_TTL_SECONDS + 0.1)

        # then each server's very next request is answered by v2 (an MLP: the first request
        # after the promotion loads it, PyTorch included, in a process that had not imported
        # it; how long that takes is bench/webproc.py's and bench/serving's business)
        for base in servers:
            status, body = _predict(base, token)
            assert (status, body["version"]) == (200, v2.version), (base, body)

        # and a version whose files were tampered with is never served, by either
        (v3.artifact_dir / "preprocessor.json").write_text('{"tampered": true}')
        model_version_promote(version=v3, reason="test")
        time.sleep(0.6)  # past the resolution TTL
        for base in servers:
            status, body = _predict(base, token)
            assert status == 409, body
            assert "checksum" in body["detail"]
    v3.refresh_from_db()
    assert v3.is_corrupt


@pytest.mark.django_db(transaction=True)
def test_graceful_shutdown_loses_no_served_prediction(user):
    # given a server answering a stream of requests from four clients
    import os
    import signal
    import threading

    from inference.models import PredictionLog

    register("hgb")
    token = Token.objects.create(user=user).key
    answered: list[str] = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                status, body = _predict(base, token)
            except OSError:  # refused once the server stops listening
                return
            if status == 200:
                answered.extend(p["id"] for p in body["predictions"])

    # A flush interval longer than the test: on PostgreSQL the rows are still in the workers'
    # log buffers when they are told to stop, so only the exit flush can write them.
    with gunicorn_server(workers=2, env_extra={"PREDICTION_LOG_FLUSH_SECONDS": "300"}) as base:
        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(answered) >= 20, timeout=60, what="twenty answers")

        # when the master is asked to stop (SIGTERM: finish in-flight requests, then exit)
        os.kill(base.pid, signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=60)
        stop.set()

    # then every prediction a client received an answer for is in the log
    assert len(answered) >= 20
    logged = set(
        str(i) for i in PredictionLog.objects.filter(id__in=answered).values_list("id", flat=True)
    )
    assert logged == set(answered)
