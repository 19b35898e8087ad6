import time

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry.selectors import dataset_get_by_ref
from training import services
from training.models import TrainingJob


class Command(BaseCommand):
    help = "Start a training job (an Optuna search on the workers); --wait follows its progress."

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="dataset id or exact name")
        parser.add_argument("--model", dest="model_name", help="registered model name")
        parser.add_argument("--target", default="")
        parser.add_argument("--trials", type=int, default=None, dest="n_trials")
        parser.add_argument(
            "--families", default="", help="comma-separated: mlp,hgb,logreg (default all)"
        )
        parser.add_argument(
            "--imbalance", default="", help="comma-separated: none,class_weight,smote"
        )
        parser.add_argument("--metric", default="auto")
        parser.add_argument("--timeout", type=float, default=None, dest="timeout_s")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--parallelism", type=int, default=1)
        parser.add_argument("--max-epochs", type=int, default=60, dest="max_epochs")
        parser.add_argument("--wait", action="store_true", help="follow progress until it ends")

    def handle(self, *args, **opts):
        ref = opts["dataset"]
        dataset = dataset_get_by_ref(ref)
        if dataset is None:
            raise CommandError(f"No dataset {ref!r} (give its id or exact name).")
        split = lambda v: [x.strip() for x in v.split(",") if x.strip()] or None  # noqa: E731
        try:
            job = services.training_job_create(
                dataset=dataset,
                model_name=opts["model_name"] or _slug(dataset.name),
                target=opts["target"],
                families=split(opts["families"]),
                imbalance=split(opts["imbalance"]),
                metric=opts["metric"],
                n_trials=opts["n_trials"],
                timeout_s=opts["timeout_s"],
                seed=opts["seed"],
                parallelism=opts["parallelism"],
                max_epochs=opts["max_epochs"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Training job {job.pk} queued: model {job.model_name!r}, {job.n_trials} trials."
        )
        if opts["wait"]:
            self._follow(job)

    def _follow(self, job: TrainingJob) -> None:
        width = 30
        last = None
        while True:
            job.refresh_from_db()
            done = job.trials_finished
            bar = "#" * int(width * job.progress_share)
            best = f"{job.best_value:.4f}" if job.best_value is not None else "-"
            line = f"\r[{bar:<{width}}] {done}/{job.n_trials} trials, best {best}, {job.status}"
            if line != last:
                self.stdout.write(line, ending="")
                self.stdout.flush()
                last = line
            if job.is_finished:
                break
            time.sleep(1)
        self.stdout.write("")
        if job.status == TrainingJob.Status.SUCCEEDED:
            v = job.result_version
            shown = ("roc_auc", "f1", "accuracy")
            metrics = ", ".join(
                f"{k} {v.metrics[k]:.4f}" for k in shown if isinstance(v.metrics.get(k), float)
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Registered {v.registered_model.name} v{v.version} ({v.family}), "
                    f"stage {v.stage}; test {metrics}"
                )
            )
        else:
            raise CommandError(f"Job {job.pk} ended {job.status}: {job.error}")


def _slug(name: str) -> str:
    from django.utils.text import slugify

    return slugify(name)[:100] or "model"
