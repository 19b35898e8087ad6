"""manage.py demo_drift: the loop on synthetic data, end to end, in this process."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from django.test.utils import override_settings
from rest_framework.authtoken.models import Token

from core.errors import DomainError
from monitoring import services
from monitoring.models import DriftCheck, Retraining
from registry.selectors import model_version_get_production
from registry.services import (
    SYNTHETIC_REFERENCE,
    SyntheticParams,
    dataset_generate_synthetic,
    synthetic_frame,
)
from training.selectors import training_job_get
from training.services import training_job_create, training_job_run

if TYPE_CHECKING:
    from registry.models import ModelVersion
    from training.models import TrainingJob

MODEL = "demo-drift"
WAIT_SECONDS = 1800
BATCH = 500


class Command(BaseCommand):
    help = (
        "Walk through the drift loop on synthetic data: train a model on the synthetic "
        "reference, send drifted traffic through the REST API with part of it labelled, run "
        "the drift check, and retrain: the challenger ends in staging. Runs without workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=4000, help="drifted rows to send")
        parser.add_argument("--labelled", type=float, default=0.4, help="share sent with labels")
        parser.add_argument("--trials", type=int, default=3)

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args, **opts):
        if not 0 < opts["labelled"] <= 1:
            raise CommandError("--labelled is a share in (0, 1].")
        with override_settings(RETRAIN_TRIALS=opts["trials"]):
            self._run(opts)

    def _run(self, opts):
        reference = SyntheticParams(**{**SYNTHETIC_REFERENCE.__dict__, "drifted": []})
        production = self._production(reference, opts["trials"])
        monitor = services.drift_monitor_ensure(model=production.registered_model)
        services.drift_monitor_save(
            monitor=monitor,
            retrain_enabled=True,
            retrain_cooldown_hours=0,
            retrain_min_labelled=200,
            window_rows=max(opts["rows"], 1000),
            min_sample=min(1000, opts["rows"]),
        )
        self.say(f"2. Drift monitor of {MODEL}: {monitor.schedule_text}, retraining on.")

        drifted_params = SyntheticParams(
            **{
                **reference.__dict__,
                "rows": opts["rows"],
                "mean_shift": 0.8,
                "drift_features": 2,
                "category_shift": 0.3,
            }
        )
        frame = synthetic_frame(drifted_params)
        client, auth = self._api_client()
        ids = self._send(client, auth, frame)
        labelled = self._label(client, auth, ids, frame, opts["labelled"])
        self.say(
            f"3. Sent {len(ids)} drifted rows through POST /api/v1/models/{MODEL}/predict "
            f"(moved: {', '.join(drifted_params.drifted)}); {labelled} labelled through "
            "POST /api/v1/feedback."
        )

        check = services.drift_check_create(monitor=monitor, enqueue=False)
        check = services.drift_check_run(check_id=check.pk)
        if check.status != DriftCheck.Status.SUCCEEDED:
            raise CommandError(f"The drift check failed: {check.error}")
        perf = check.performance
        self.say(
            f"4. Drift check {check.pk}: {check.get_verdict_display().lower()}, drifted "
            f"{', '.join(check.drifted_features) or 'nothing'} (share {check.drift_share:.0%}); "
            f"estimated accuracy {perf.get('estimated_accuracy') or 0:.1%}, live "
            f"{perf.get('live_accuracy') or 0:.1%} on {perf.get('n_labelled', 0)} labels."
        )
        retraining = Retraining.objects.filter(drift_check=check).first()
        if retraining is None:
            raise CommandError(
                f"No retraining started: {check.retraining_note or 'no drift found'}"
            )
        self.say(
            f"5. Retraining {retraining.pk}: training job {retraining.training_job_id} on "
            f"{retraining.n_parent_rows} training rows + {retraining.n_window_rows} labelled "
            f"predictions ({retraining.n_holdout_rows} held out) ..."
        )
        self._finish(retraining.training_job_id)
        retraining = self._settled(retraining)
        if retraining.status != Retraining.Status.STAGED:
            raise CommandError(f"The retraining did not finish: {retraining.error}")
        challenger = retraining.challenger
        self.say(f"6. Challenger v{challenger.version} is in staging; on the held-out recent rows:")
        for name, m in retraining.comparison["metrics"].items():
            self.say(
                f"     {name:<9} champion {m['champion']:.4f}  challenger {m['challenger']:.4f}  "
                f"difference {m['difference']:+.4f} [{m['low']:+.4f}, {m['high']:+.4f}]"
            )
        self.say(
            "Look at: /drift/ (monitors), "
            f"/drift/{MODEL}/ (timeline, heatmap, checks), /drift/checks/{check.pk}/ (the "
            "per-feature table and the comparison), "
            f"/models/{MODEL}/versions/{challenger.version}/ (the challenger; promote it there)."
        )

    def _production(self, reference: SyntheticParams, trials: int) -> ModelVersion:
        version = model_version_get_production(MODEL)
        if version is not None:
            self.say(f"1. {MODEL} v{version.version} is already in production; reusing it.")
            return version
        dataset, _ = dataset_generate_synthetic(params=reference)
        try:
            job = training_job_create(
                dataset=dataset, model_name=MODEL, target=dataset.target, n_trials=trials
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.say(f"1. Training {MODEL} on {dataset.name} ({trials} trials) ...")
        job = self._finish(job.pk)
        if job.result_version is None:
            raise CommandError(f"Training failed: {job.error}")
        job.result_version.refresh_from_db()
        return job.result_version

    def _finish(self, job_id: int) -> TrainingJob:
        """Run the job here; when a running worker claimed it first, wait for the worker."""
        training_job_run(job_id=job_id)
        deadline = time.monotonic() + WAIT_SECONDS
        job = training_job_get(job_id)
        while not job.is_finished and time.monotonic() < deadline:
            time.sleep(1)
            job.refresh_from_db()
        if not job.is_finished:
            raise CommandError(f"Training job {job_id} did not finish in {WAIT_SECONDS} s.")
        return job

    def _settled(self, retraining: Retraining) -> Retraining:
        """Settle it here (or see the Beat task of a running platform do it)."""
        deadline = time.monotonic() + 60
        services.retrainings_settle()
        retraining.refresh_from_db()
        while retraining.status == Retraining.Status.TRAINING and time.monotonic() < deadline:
            time.sleep(1)
            services.retrainings_settle()
            retraining.refresh_from_db()
        return retraining

    def _api_client(self) -> tuple[Client, dict]:
        user, _ = get_user_model().objects.get_or_create(username="demo-drift")
        token, _ = Token.objects.get_or_create(user=user)
        host = next((h for h in settings.ALLOWED_HOSTS if h not in ("*",)), "localhost").lstrip(".")
        return Client(HTTP_HOST=host or "localhost"), {"HTTP_AUTHORIZATION": f"Token {token.key}"}

    def _send(self, client: Client, auth: dict, frame) -> list[str]:
        rows = frame.drop(columns=["label"]).to_dict(orient="records")
        ids = []
        for start in range(0, len(rows), BATCH):
            response = client.post(
                f"/api/v1/models/{MODEL}/predict",
                json.dumps({"instances": rows[start : start + BATCH]}, default=float),
                content_type="application/json",
                **auth,
            )
            if response.status_code != 200:
                raise CommandError(
                    f"predict answered {response.status_code}: {response.content[:300]!r}"
                )
            ids += [p["id"] for p in response.json()["predictions"]]
        return ids

    def _label(self, client: Client, auth: dict, ids: list[str], frame, share: float) -> int:
        labels = frame["label"].tolist()
        items = [
            {"prediction_id": pid, "label": label}
            for pid, label in list(zip(ids, labels, strict=True))[: int(share * len(ids))]
        ]
        for start in range(0, len(items), 1000):
            response = client.post(
                "/api/v1/feedback",
                json.dumps({"items": items[start : start + 1000]}),
                content_type="application/json",
                **auth,
            )
            if response.status_code != 200:
                raise CommandError(
                    f"feedback answered {response.status_code}: {response.content[:300]!r}"
                )
        return len(items)
