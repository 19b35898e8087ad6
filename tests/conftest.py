"""Shared fixtures: users, clients, and real Celery worker / Beat processes.

The worker and Beat run as separate processes (`celery -A mlops_site worker|beat`) against
the broker the settings name (Redis when CELERY_BROKER_URL is set, else the filesystem broker
in the test data directory) and the test database. Tests that use them need
`django_db(transaction=True)` so their rows are committed and visible to the other process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _static_without_manifest():
    """Pages render from the finders; the hashed manifest exists only after collectstatic."""
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(autouse=True, scope="session")
def _prediction_log_unbuffered():
    """In-process tests run inside transactions that the log writer's own connection cannot
    see, so their predictions are logged synchronously. tests/inference/test_log_writer.py
    turns the writer on; servers the tests start (gunicorn) run with it, as deployed."""
    with override_settings(PREDICTION_LOG_BUFFERED=False):
        yield


@pytest.fixture(autouse=True, scope="session")
def _ab_router_reads_every_time():
    """Each web process caches which A/B tests run for ABTEST_ROUTER_TTL_SECONDS; a test's
    rolled-back rows must not linger in that cache for the next test."""
    with override_settings(ABTEST_ROUTER_TTL_SECONDS=0):
        yield


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    """Each test resolves its own versions: a resolution cached by the test before (whose
    rows were rolled back) would otherwise serve for up to INFERENCE_RESOLVE_TTL_SECONDS, and
    log the rows under a version that no longer exists."""
    from inference.serving.cache import model_cache
    from inference.serving.tally import write_cpu

    model_cache.clear()
    write_cpu.drain()


@pytest.fixture(autouse=True)
def _fresh_data_files():
    """Rolled-back rows leave no trace; make stored files follow suit between tests."""
    stored = (
        settings.DATASETS_DIR,
        settings.UPLOAD_TMP_DIR,
        settings.ARTIFACTS_DIR,
        settings.DERIVED_DIR,
        settings.DRIFT_UPLOADS_DIR,
        settings.DRIFT_REPORTS_DIR,
    )
    for directory in stored:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="s3cret-pass-word")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="grace", password="s3cret-pass-word", is_staff=True
    )


@pytest.fixture
def page_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def api_client(user):
    api = APIClient()
    token = Token.objects.create(user=user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@pytest.fixture
def staff_api_client(staff_user):
    api = APIClient()
    token = Token.objects.create(user=staff_user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


def _test_database_url() -> str:
    """A DATABASE_URL for the test database pytest-django created (its name differs from the
    configured one), so a child process writes where the test reads."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    if connection.vendor == "postgresql":
        auth = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{db['NAME']}"
    raise RuntimeError(f"no worker support for database vendor {connection.vendor}")


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_test_database_url(),
        MODELYARD_DATA_DIR=str(settings.DATA_DIR),
        SECRET_KEY=settings.SECRET_KEY,
        PYTHONUNBUFFERED="1",
        # Two worker processes share two cores: one thread per fit, as `make run` sets it.
        MODELYARD_TRAINING_THREADS="1",
    )
    env.update(extra)
    return env


class CeleryProcess:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._log_handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mlops_site", *args],
            cwd=REPO,
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log_handle.close()


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# The session's stand-in Hugging Face Hub, which the worker exports to (HF_ENDPOINT).
WORKER_HUB_TOKEN = "hf_workerSessionToken123456"


@pytest.fixture(scope="session")
def session_hub():
    from tests.hub_standin import HubStandIn

    with HubStandIn({WORKER_HUB_TOKEN: "worker-user"}) as hub:
        yield hub


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory, session_hub):
    """One real worker process for the session, consuming all four queues; its Hub is the
    session's stand-in."""
    from mlops_site.celery import app

    log = tmp_path_factory.mktemp("celery") / "worker.log"
    hostname = f"test-worker-{os.getpid()}@%h"
    with django_db_blocker.unblock():
        env = _child_env(HF_ENDPOINT=session_hub.endpoint, HF_TOKEN=WORKER_HUB_TOKEN)
    worker = CeleryProcess(
        [
            "worker",
            "--loglevel=INFO",
            "--queues=default,monitoring,training,batch",
            "--concurrency=2",
            "--pool=prefork",
            f"--hostname={hostname}",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        log,
    )
    try:
        wait_for(
            lambda: worker.process.poll() is not None or app.control.ping(timeout=0.5),
            timeout=90,
            what="the Celery worker to answer a ping",
        )
        if worker.process.poll() is not None:
            raise RuntimeError(f"Celery worker exited early:\n{worker.output()}")
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def celery_beat_process(transactional_db, tmp_path):
    """A real Beat process with a one-second heartbeat, for the duration of one test."""
    beat = CeleryProcess(
        [
            "beat",
            "--loglevel=INFO",
            f"--schedule={tmp_path / 'beat-schedule'}",
            "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
        ],
        _child_env(BEAT_HEARTBEAT_SECONDS="1"),
        tmp_path / "beat.log",
    )
    try:
        yield beat
    finally:
        beat.stop()
