from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry import services


class Command(BaseCommand):
    help = "Ingest a CSV file as a dataset (the same checks as an upload)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", default="")
        parser.add_argument("--target", default="")
        parser.add_argument("--description", default="")

    def handle(self, *args, path: Path, name, target, description, **options):
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        self.stdout.write(f"Reading {path} ({path.stat().st_size:,} bytes) ...")
        try:
            with path.open("rb") as source:
                dataset, created = services.dataset_ingest(
                    source=source,
                    filename=path.name,
                    name=name,
                    target=target,
                    description=description,
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        verb = "Stored" if created else "Already stored as"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} dataset {dataset.pk} “{dataset.name}”: {dataset.row_count} rows, "
                f"{dataset.column_count} columns, target {dataset.target or '(not set)'}"
            )
        )
