"""manage.py demo_costs: two training searches, traffic through the REST API, a drift check,
then what each of them cost, measured and priced (the Costs page's numbers, printed)."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from rest_framework.authtoken.models import Token

from core.costs import KINDS
from core.errors import DomainError
from monitoring import selectors, services
from monitoring.models import DriftMonitor
from registry.selectors import model_version_list_by_name
from registry.services import (
    SYNTHETIC_REFERENCE,
    SyntheticParams,
    dataset_generate_synthetic,
    synthetic_frame,
)
from training.selectors import training_job_get
from training.services import training_job_create, training_job_run

MODEL = "demo-costs"


class Command(BaseCommand):
    help = (
        "Walk through cost tracking: train a logistic regression and a gradient-boosting "
        "search, serve requests to both through POST /api/v1/models/demo-costs/predict, run "
        "a drift check, then price the measured CPU time and the bytes kept, and print the "
        "report (by kind, per version and per 1,000 predictions, per training job). Runs "
        "without workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=600, help="requests per version")
        parser.add_argument("--trials", type=int, default=3)

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args, **opts):
        if opts["requests"] < 1 or opts["trials"] < 1:
            raise CommandError("--requests and --trials must be at least 1.")
        self.say(f"1. Training two searches for {MODEL} ({opts['trials']} trials each):")
        first, second = self._versions(opts["trials"])
        self.say(
            f"2. Serving {opts['requests']} requests of 1 and 20 rows to v{first.version} "
            f"({first.family}) and v{second.version} ({second.family}) through the REST API ..."
        )
        self._serve(first, second, opts["requests"])
        self.say("3. Running a drift check on the logged predictions ...")
        monitor, _ = DriftMonitor.objects.get_or_create(registered_model=first.registered_model)
        try:
            check = services.drift_check_create(monitor=monitor, enqueue=False)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        services.drift_check_run(check_id=check.pk)
        self.say("4. Pricing the serving CPU time of this interval and the bytes kept ...")
        services.inference_costs_record(include_current=True)
        services.storage_costs_record()
        self._print_report()

    def _versions(self, trials: int):
        versions = {v.family: v for v in model_version_list_by_name(MODEL)}
        for family in ("logreg", "hgb"):
            if family not in versions:
                versions[family] = self._train(family, trials)
        return versions["logreg"], versions["hgb"]

    def _train(self, family: str, trials: int):
        params = SyntheticParams(**{**SYNTHETIC_REFERENCE.__dict__, "rows": 4000})
        dataset, _ = dataset_generate_synthetic(params=params)
        try:
            job = training_job_create(
                dataset=dataset,
                model_name=MODEL,
                target=dataset.target,
                families=[family],
                n_trials=trials,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        started = time.monotonic()
        training_job_run(job_id=job.pk)
        job = training_job_get(job.pk)
        if job.result_version is None:
            raise CommandError(f"Training failed: {job.error}")
        self.say(
            f"   job {job.pk}: {family}, {job.cpu_seconds:.1f} CPU seconds in "
            f"{time.monotonic() - started:.1f} s -> v{job.result_version.version}"
        )
        return job.result_version

    def _serve(self, first, second, requests: int) -> None:
        user = get_user_model().objects.filter(is_superuser=True).first()
        if user is None:
            user, _ = get_user_model().objects.get_or_create(username="demo")
        token, _ = Token.objects.get_or_create(user=user)
        host = (settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip(".")
        client = Client(HTTP_HOST=host if host != "*" else "localhost")
        frame = synthetic_frame(SyntheticParams(**{**SYNTHETIC_REFERENCE.__dict__, "rows": 50}))
        rows = json.loads(frame.drop(columns=["label"]).head(20).to_json(orient="records"))
        for version in (first, second):
            for i in range(requests):
                body = {"instances": rows[:1] if i % 2 else rows, "version": version.version}
                answer = client.post(
                    f"/api/v1/models/{MODEL}/predict",
                    json.dumps(body),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Token {token.key}",
                )
                if answer.status_code != 200:
                    raise CommandError(f"predict answered {answer.status_code}: {answer.content}")

    def _print_report(self) -> None:
        report = selectors.cost_report(group_by=("kind",), model=MODEL)
        currency = report["currency"]
        self.say(f"\nWhat {MODEL} cost ({currency}):")
        self.say(f"   {'kind':<18}{'CPU seconds':>12}{'cost':>14}")
        for row in report["rows"]:
            self.say(
                f"   {KINDS.get(row['kind'], row['kind']):<18}{row['cpu_seconds']:>12.2f}"
                f"{float(row['amount']):>14.6f}"
            )
        self.say("   per version: inference cost per 1,000 predictions")
        for entry in selectors.cost_per_version(model=MODEL):
            per_1k = entry["per_1k"]
            self.say(
                f"   v{entry['version']}: {entry['predictions']:,} predictions, "
                + (f"{float(per_1k):.8f} {currency} per 1,000" if per_1k is not None else "—")
            )
        for job in selectors.costliest_training_jobs(model=MODEL):
            self.say(
                f"   training job {job['job_id']}: {job['cpu_seconds']:.1f} CPU seconds, "
                f"{float(job['amount']):.6f} {currency}"
            )
        self.say("\nOpen /costs/ (and /costs/?model=demo-costs) for the charts; /metrics has them.")
