from django.db import transaction
from django.utils import timezone

from monitoring.models import WorkerProbe


def worker_probe_request(*, requested_by=None) -> WorkerProbe:
    """Create a probe row and enqueue the task that answers it, once the row is committed."""
    from monitoring.tasks import answer_worker_probe_task

    with transaction.atomic():
        probe = WorkerProbe.objects.create(requested_by=requested_by)
        transaction.on_commit(lambda: answer_worker_probe_task.delay(probe.pk))
    return probe


def worker_probe_answer(*, probe_id: int, worker: str) -> bool:
    """Mark a queued probe done; a redelivered message finds it done already and changes nothing."""
    return bool(
        WorkerProbe.objects.filter(pk=probe_id, status=WorkerProbe.Status.QUEUED).update(
            status=WorkerProbe.Status.DONE, completed_at=timezone.now(), worker=worker[:255]
        )
    )
