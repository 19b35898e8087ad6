from dataclasses import fields

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry import services
from registry.synthetic import SyntheticParams


class Command(BaseCommand):
    help = "Generate a synthetic classification dataset, optionally with known drift."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="")
        defaults = SyntheticParams()
        for f in fields(SyntheticParams):
            if f.name in ("drifted", "categorical_features"):
                continue
            value = getattr(defaults, f.name)
            parser.add_argument(
                f"--{f.name.replace('_', '-')}", type=type(value), default=value, dest=f.name
            )
        parser.add_argument("--no-categorical", action="store_true")

    def handle(self, *args, **options):
        params = SyntheticParams(
            **{
                f.name: options[f.name]
                for f in fields(SyntheticParams)
                if f.name not in ("drifted", "categorical_features")
            },
            categorical_features=not options["no_categorical"],
        )
        self.stdout.write(f"Generating {params.rows:,} rows x {params.features} features ...")
        try:
            dataset, created = services.dataset_generate_synthetic(
                params=params, name=options["name"]
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        verb = "Stored" if created else "Identical data already stored as"
        self.stdout.write(self.style.SUCCESS(f"{verb} dataset {dataset.pk} “{dataset.name}”."))
