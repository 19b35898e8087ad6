"""The task path end to end, with a real worker process on the configured broker."""

import pytest

from monitoring import selectors, services
from monitoring.models import WorkerProbe
from monitoring.tasks import answer_worker_probe_task
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_probe_is_answered_by_a_real_worker(celery_worker_process, user):
    # given a running worker process
    # when a service enqueues the probe task on commit
    probe = services.worker_probe_request(requested_by=user)

    # then the worker writes its answer to the database
    def answered():
        probe.refresh_from_db()
        return probe.status == WorkerProbe.Status.DONE

    wait_for(answered, timeout=30, what=f"the worker to answer probe {probe.pk}")
    assert probe.worker.startswith("test-worker-")
    assert probe.completed_at >= probe.requested_at


def test_system_status_sees_the_worker_through_a_control_ping(celery_worker_process):
    # given a running worker process
    # when the status selector pings the workers
    status = selectors.system_status_get(ping_timeout=2.0)

    # then the worker answers by name
    assert status.worker_alive
    assert any(name.startswith("test-worker-") for name in status.workers)


def test_redelivered_probe_message_changes_nothing(db):
    # given a probe the worker has already answered
    probe = WorkerProbe.objects.create()
    assert answer_worker_probe_task.run(probe.pk) is True
    probe.refresh_from_db()
    first_answer = (probe.completed_at, probe.worker)

    # when the same message is delivered again
    again = answer_worker_probe_task.run(probe.pk)

    # then the row keeps its first answer
    probe.refresh_from_db()
    assert again is False
    assert (probe.completed_at, probe.worker) == first_answer


def test_status_without_a_worker_reports_no_answer(db):
    # given no worker process for the broker (the session worker is not requested here, but
    # one may be running from an earlier test, so look only at an unknown destination)
    from mlops_site.celery import app

    # when a ping is sent to a worker name nobody has
    replies = app.control.ping(destination=["nobody@nowhere"], timeout=0.3)

    # then nothing answers
    assert replies == []
