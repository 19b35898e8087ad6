from celery import shared_task

from abtests import services


@shared_task(name="abtests.evaluate_due", ignore_result=True, soft_time_limit=120, time_limit=180)
def evaluate_due_task() -> int:
    """Sent by Beat every ABTEST_EVALUATE_SECONDS: evaluate every running test and every
    promotion under watch (each reads a few tally rows, whatever the log's size)."""
    return services.abtests_evaluate_due()
