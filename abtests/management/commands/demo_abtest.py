"""manage.py demo_abtest: a champion, a genuinely better challenger, labelled traffic through
the REST API, and a split test that decides and promotes on its own."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from rest_framework.authtoken.models import Token

from abtests import selectors, services
from abtests.models import ABTest
from core.errors import DomainError
from registry.selectors import model_version_get_production, model_version_list_by_name
from registry.services import (
    SYNTHETIC_REFERENCE,
    SyntheticParams,
    dataset_generate_synthetic,
    synthetic_frame,
)
from training.selectors import training_job_get
from training.services import training_job_create, training_job_run

MODEL = "demo-abtest"
WAIT_SECONDS = 1800


class Command(BaseCommand):
    help = (
        "Walk through a live A/B test on synthetic data: a champion trained before the world "
        "changed (the generator's concept drift), a challenger trained on today's data, "
        "labelled traffic through POST /api/v1/models/demo-abtest/predict "
        "and /api/v1/feedback, evaluated after every batch (as Beat would) until the test "
        "decides and promotes the challenger. Runs without workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=250, help="requests between looks")
        parser.add_argument("--max-requests", type=int, default=20000, dest="max_requests")
        parser.add_argument("--trials", type=int, default=2)
        parser.add_argument("--mode", choices=["split", "shadow"], default="split")

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args, **opts):
        if opts["batch"] < 1 or opts["max_requests"] < opts["batch"]:
            raise CommandError("--batch must be at least 1 and at most --max-requests.")
        champion, challenger = self._versions(opts["trials"])
        self.say(
            f"1. {MODEL}: champion v{champion.version} ({champion.family}) in production, "
            "trained on last season's data (labels since changed for x0 above its centre); "
            f"challenger v{challenger.version} ({challenger.family}) trained on today's."
        )
        answer = selectors.sample_size(
            baseline=champion.metrics.get("accuracy") or 0.8,
            mde=0.03,
            alpha=0.05,
            power=0.8,
            share=0.5,
        )
        try:
            test = services.abtest_create(
                challenger=challenger,
                mode=opts["mode"],
                mde=0.03,
                min_labelled_per_arm=300,
                auto_promote=True,
                watch_hours=1,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.say(
            f"2. A/B test {test.pk} ({test.get_mode_display().lower()}) running. For a "
            f"3-point effect the calculator says {answer.per_arm:,} labelled rows an arm at a "
            f"fixed horizon, about {answer.sequential_per_arm:,} for the sequential test."
        )
        self._traffic(test, opts)

    def _versions(self, trials: int):
        champion = model_version_get_production(MODEL)
        if champion is None:
            before = SyntheticParams(
                **{**SYNTHETIC_REFERENCE.__dict__, "rows": 3000, "concept_drift": 0.2}
            )
            self._train(before, ["logreg"], trials)
            champion = model_version_get_production(MODEL)
        others = [
            v
            for v in model_version_list_by_name(MODEL).order_by("-version")
            if v.stage in ("candidate", "staging")
        ]
        if others:
            return champion, others[0]
        today = SyntheticParams(**{**SYNTHETIC_REFERENCE.__dict__, "rows": 6000})
        job = self._train(today, ["logreg"], trials)
        return champion, job.result_version

    def _train(self, params: SyntheticParams, families: list[str], trials: int):
        dataset, _ = dataset_generate_synthetic(params=params)
        try:
            job = training_job_create(
                dataset=dataset,
                model_name=MODEL,
                target=dataset.target,
                families=families,
                n_trials=trials,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.say(f"   training {families[0]} on {params.rows} rows ({trials} trials) ...")
        training_job_run(job_id=job.pk)
        deadline = time.monotonic() + WAIT_SECONDS
        job = training_job_get(job.pk)
        while not job.is_finished and time.monotonic() < deadline:
            time.sleep(1)
            job.refresh_from_db()
        if job.result_version is None:
            raise CommandError(f"Training failed: {job.error}")
        job.result_version.refresh_from_db()
        return job

    def _api_client(self) -> tuple[Client, dict]:
        user, _ = get_user_model().objects.get_or_create(username="demo-abtest")
        token, _ = Token.objects.get_or_create(user=user)
        host = next((h for h in settings.ALLOWED_HOSTS if h not in ("*",)), "localhost").lstrip(".")
        return Client(HTTP_HOST=host or "localhost"), {"HTTP_AUTHORIZATION": f"Token {token.key}"}

    def _post(self, client: Client, auth: dict, path: str, body: dict) -> dict:
        response = client.post(
            path, json.dumps(body, default=float), content_type="application/json", **auth
        )
        if response.status_code != 200:
            raise CommandError(
                f"{path} answered {response.status_code}: {response.content[:300]!r}"
            )
        return response.json()

    def _traffic(self, test: ABTest, opts) -> None:
        client, auth = self._api_client()
        # Today's world (the generator's seed fixes its class structure), fresh rows.
        traffic = SyntheticParams(**{**SYNTHETIC_REFERENCE.__dict__, "rows": opts["max_requests"]})
        frame = synthetic_frame(traffic)
        rows = frame.drop(columns=["label"]).to_dict(orient="records")
        truth = frame["label"].astype(str).tolist()
        self.say(
            "3. Traffic: one unit per request, each labelled at once; evaluated after every "
            f"{opts['batch']} requests."
        )
        self.say(
            "   requests  labelled c/ch   accuracy c/ch    difference [always-valid 95 %]"
            "      p      P(better)"
        )
        sent = 0
        while sent < len(rows):
            items = []
            for i in range(sent, min(sent + opts["batch"], len(rows))):
                answer = self._post(
                    client,
                    auth,
                    f"/api/v1/models/{MODEL}/predict",
                    {"instances": [rows[i]], "unit_id": f"visitor-{i}"},
                )
                items.append({"prediction_id": answer["predictions"][0]["id"], "label": truth[i]})
            sent += len(items)
            self._post(client, auth, "/api/v1/feedback", {"items": items})
            snapshot = services.abtest_evaluate(test_id=test.pk)
            test.refresh_from_db()
            if snapshot is not None:
                a, b = snapshot.arms["champion"], snapshot.arms["challenger"]
                self.say(
                    f"   {sent:>8,}  {a['labelled']:>6,}/{b['labelled']:<6,}  "
                    f"{a['accuracy'] or 0:6.1%}/{b['accuracy'] or 0:6.1%}   "
                    f"{snapshot.difference * 100:+5.1f} pts [{snapshot.low * 100:+5.1f}, "
                    f"{snapshot.high * 100:+5.1f}]   {snapshot.p_value:8.2g}   "
                    f"{snapshot.prob_better:6.1%}"
                )
            if test.status != ABTest.Status.RUNNING:
                break
        self.say(f"4. {test.summary or 'Still running: no decision within --max-requests.'}")
        production = model_version_get_production(MODEL)
        self.say(
            f"   Production is now v{production.version}. Look at: /ab-tests/{test.pk}/ (the "
            f"scoreboard, the interval narrowing, P(better)), /models/{MODEL}/ (the promotion "
            "with the decision as evidence), /metrics (modelyard_abtest_*)."
        )
