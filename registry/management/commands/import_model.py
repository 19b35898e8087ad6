from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry import services
from registry.services.hub import REPO_ID


class Command(BaseCommand):
    help = (
        "Register a version from a Modelyard export: a folder, or a Hub repository "
        "(owner/name, from HF_ENDPOINT with HF_TOKEN). Every checksum is verified and "
        "anything that would need unpickling is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="an export folder, or owner/name on the Hub")
        parser.add_argument("--model", default="", help="register under this model name")

    def handle(self, *args, source, model, **options):
        try:
            if Path(source).is_dir():
                version = services.model_version_import(source=Path(source), model_name=model)
            elif REPO_ID.match(source) and not Path(source).exists():
                version = services.model_version_import_repo(repo_id=source, model_name=model)
            else:
                raise CommandError(f"{source} is neither an export folder nor owner/name.")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Imported as {version} ({version.family}, {version.stage}).")
        )
