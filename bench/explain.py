"""Explanations: how long SHAP values take per family, for 1 and 100 rows.

Run from the repository root (about 1 minute: three one-trial searches on 3,000 UCI Adult
rows, then the timings):

    .venv/bin/python bench/explain.py
    .venv/bin/python bench/explain.py --repeat 50

Setup: a fresh SQLite database and data directory (deleted at exit), one version per family
registered through the registry (its global mean |SHAP| computed on the way, timed too). Then,
per family and batch size, the median and the 95th percentile of `--repeat` runs of:

- engine: `engine.explain.explain` on an already expanded matrix (the SHAP computation and the
  one-hot grouping only);
- endpoint: `POST /api/v1/models/adult-<family>/explain` through Django's test client with a
  token (JSON parsing, validation, prediction, explanation, the JSON answer; no HTTP server),
  after one warm-up request that builds the explainer (timed on its own as "first request");
- card: `registry.cards` gathering the version's facts and writing its README.md and JSON.

It prints numbers only: no thresholds, no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAMILIES = ("hgb", "logreg", "mlp")
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def setup(data: Path) -> None:
    os.environ.update(
        MODELYARD_DATA_DIR=str(data),
        SECRET_KEY="bench",
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="mlops_site.settings",
    )
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timings(call, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def run(repeat: int) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from core.csvfiles import profile_frame, read_frame
    from engine.explain import explain, model_explainer, predicted_classes
    from engine.search import SearchConfig, run_search
    from registry.builtin import ADULT_PATH
    from registry.services import dataset_ingest, model_version_register

    frame = read_frame(ADULT_PATH, ",").drop(columns=["split"])
    frame = frame.sample(n=3000, random_state=7).reset_index(drop=True)
    scratch = Path(tempfile.mkdtemp())
    csv = scratch / "adult.csv"
    frame.to_csv(csv, index=False)
    with csv.open("rb") as f:
        dataset, _ = dataset_ingest(source=f, filename="adult.csv", name="Adult", target="income")
    user = get_user_model().objects.create_user("bench", password="x")
    token = Token.objects.create(user=user).key
    client = Client()
    rows = {}
    for n in (1, 100):
        picked = frame.drop(columns=["income"]).head(n)
        rows[n] = json.loads(picked.to_json(orient="records"))
    table = []
    for family in FAMILIES:
        log(f"training {family} ...")
        config = SearchConfig(
            target="income", families=[family], imbalance=["none"], n_trials=1, max_epochs=5
        )
        result = run_search(frame, config, columns=profile_frame(frame))
        started = time.perf_counter()
        from engine.explain import global_importance

        global_importance(result.model, result.reference_sample)
        global_ms = (time.perf_counter() - started) * 1000
        version = model_version_register(
            model_name=f"adult-{family}", dataset=dataset, result=result
        )
        model = result.model
        explainer = model_explainer(model, result.reference_sample)
        path = f"/api/v1/models/{version.registered_model.name}/explain"

        def post(n, path=path):
            response = client.post(
                path,
                json.dumps({"instances": rows[n]}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {token}",
            )
            assert response.status_code == 200, response.content[:300]

        started = time.perf_counter()
        post(1)
        first_ms = (time.perf_counter() - started) * 1000
        from registry.cards import card_facts, card_json, card_markdown

        def card(version=version):
            facts = card_facts(version)
            card_markdown(facts)
            card_json(facts)

        card_ms, _ = timings(card, 10)
        for n in (1, 100):
            X = model.preprocessor.transform(result.reference_sample.head(n))
            classes = predicted_classes(model, X)
            groups = model.preprocessor.groups
            engine_median, engine_p95 = timings(
                lambda X=X, c=classes, e=explainer, g=groups: explain(e, X, g, c), repeat
            )
            api_median, api_p95 = timings(lambda n=n: post(n), repeat)
            table.append(
                [
                    family,
                    explainer.method,
                    str(n),
                    f"{engine_median:.2f}",
                    f"{engine_p95:.2f}",
                    f"{api_median:.2f}",
                    f"{api_p95:.2f}",
                    f"{first_ms:.0f}" if n == 1 else "",
                    f"{global_ms:.0f}" if n == 1 else "",
                    f"{card_ms:.0f}" if n == 1 else "",
                ]
            )
    shutil.rmtree(scratch, ignore_errors=True)
    header = [
        "family",
        "method",
        "rows",
        "engine median ms",
        "engine p95 ms",
        "endpoint median ms",
        "endpoint p95 ms",
        "first request ms",
        "global importance ms",
        "card ms",
    ]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print(f"\nExplanation latency ({repeat} runs a cell)\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(
        "\nEndpoint: the whole view through Django's test client (no HTTP server). First "
        "request: the one that reads the reference sample and builds the explainer. Global "
        "importance: mean |SHAP| over 500 reference rows, computed once at registration. Card: "
        "the model card's facts from the records, its README.md and its JSON (median of 10)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs per cell (default 30)")
    args = parser.parse_args()
    print(
        f"# machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
    )
    print(f"# command: {' '.join([sys.executable, *sys.argv])}")
    data = Path(tempfile.mkdtemp(prefix="modelyard-bench-explain-"))
    try:
        setup(data)
        run(args.repeat)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"\n# total wall time {time.monotonic() - STARTED:.0f} s")


if __name__ == "__main__":
    main()
