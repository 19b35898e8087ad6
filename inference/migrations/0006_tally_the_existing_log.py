"""Versions' tallies for the rows logged before the write path kept them: predictions,
labelled and correct per (test, arm, version), counted once from the log. A request count is
not in the log (rows of one request share nothing that marks them), so the backfill counts
each old row as a request."""

from django.db import migrations
from django.db.models import Count, Q


def tally_existing(apps, schema_editor):
    PredictionLog = apps.get_model("inference", "PredictionLog")
    PredictionTally = apps.get_model("inference", "PredictionTally")
    rows = (
        PredictionLog.objects.order_by()
        .values("ab_test_id", "arm", "model_version_id")
        .annotate(
            n=Count("id"),
            labelled=Count("id", filter=Q(label__isnull=False)),
            correct=Count("id", filter=Q(is_correct=True)),
        )
    )
    PredictionTally.objects.bulk_create(
        [
            PredictionTally(
                ab_test_id=row["ab_test_id"] or 0,
                arm=row["arm"],
                model_version_id=row["model_version_id"],
                requests=row["n"],
                predictions=row["n"],
                labelled=row["labelled"],
                correct=row["correct"],
            )
            for row in rows
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [("inference", "0005_error_tally")]

    operations = [migrations.RunPython(tally_existing, migrations.RunPython.noop)]
