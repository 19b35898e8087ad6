"""The training sweep task was renamed from `monitoring.sweep_stale_training_jobs` to
`training.sweep_stale_jobs`. Beat's database scheduler keeps its entries as rows: one still
naming the old task (an entry made in the admin, or the settings entry before Beat re-syncs
it) would keep sending a task no worker knows. Point such rows at the new name, keeping their
schedules, and tell a running Beat that its schedule changed."""

from django.db import migrations
from django.utils import timezone

OLD = "monitoring.sweep_stale_training_jobs"
NEW = "training.sweep_stale_jobs"


def _rename(apps, old: str, new: str) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    if periodic_task.objects.filter(task=old).update(task=new):
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )


def forwards(apps, schema_editor):
    _rename(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _rename(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
