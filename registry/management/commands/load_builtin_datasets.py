from django.core.management.base import BaseCommand

from registry.builtin import builtin_datasets_load


class Command(BaseCommand):
    help = (
        "Load the built-in datasets (UCI Adult and a synthetic reference/drifted pair). Idempotent."
    )

    def handle(self, *args, **options):
        for dataset, created in builtin_datasets_load(stdout=self.stdout):
            state = "stored" if created else "already present"
            self.stdout.write(
                f"  {dataset.name}: {dataset.row_count} rows x {dataset.column_count} columns, "
                f"target {dataset.target!r} ({state})"
            )
        self.stdout.write(self.style.SUCCESS("Built-in datasets ready."))
