from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from monitoring import services
from registry.selectors import registered_model_get


class Command(BaseCommand):
    help = (
        "Retrain a model now: its production version's training data plus its recent labelled "
        "predictions (the newest held out). The challenger lands in staging once trained."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="registered model name")

    def handle(self, *args, **opts):
        model = registered_model_get(opts["model"])
        if model is None:
            raise CommandError(f"There is no model named {opts['model']!r}.")
        try:
            retraining = services.retraining_start(
                monitor=services.drift_monitor_ensure(model=model)
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Retraining {retraining.pk} started: training job {retraining.training_job_id} on "
            f"dataset {retraining.dataset_id} ({retraining.n_parent_rows} training rows + "
            f"{retraining.n_window_rows} labelled predictions; {retraining.n_holdout_rows} held "
            "out). The challenger enters staging when the job finishes."
        )
