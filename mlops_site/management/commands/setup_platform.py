from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Everything `make run` needs before the processes start, in one process: migrate, "
        "create the admin account if none exists, load the built-in datasets. Idempotent."
    )

    def handle(self, *args, **options):
        self.stdout.write("Migrating the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("ensure_admin", stdout=self.stdout)
        call_command("load_builtin_datasets", stdout=self.stdout)
