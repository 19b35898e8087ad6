from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry import services
from registry.models import ModelVersion


class Command(BaseCommand):
    help = "Move a model version to a stage (default production) with a reason; audited."

    def add_arguments(self, parser):
        parser.add_argument("model")
        parser.add_argument("version", type=int)
        parser.add_argument("--reason", default="")
        parser.add_argument(
            "--stage", default=ModelVersion.Stage.PRODUCTION, choices=ModelVersion.Stage.values
        )

    def handle(self, *args, model, version, reason, stage, **options):
        found = ModelVersion.objects.filter(registered_model__name=model, version=version).first()
        if found is None:
            raise CommandError(f"No version {version} of model {model!r}.")
        try:
            moved = services.model_version_transition(
                version=found, to_stage=stage, actor=None, reason=reason or "manage.py promote"
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"{moved} is now {moved.stage}."))
