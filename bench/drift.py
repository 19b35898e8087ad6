"""Drift detection: how fast the built-in engine is, and how often it flags a table.

Run from the repository root:

    .venv/bin/python bench/drift.py                 # speed + detection grid, 100 runs a cell
    .venv/bin/python bench/drift.py --runs 30       # a quicker, coarser grid
    .venv/bin/python bench/drift.py --only speed

Speed: each engine (`engine.drift_engines.run_engine`: built-in, Evidently, alibi-detect) on
15 features (10 numeric, 5 categorical), current window against a reference sample.

End to end (`--only end-to-end`, needs PostgreSQL on 127.0.0.1:5432 or $BENCH_PG): a
throw-away database, a 15-feature model, 100,000 predictions written to the log with the
serving path's COPY, then a whole `drift_check_run` timed (read the window, parse the JSON
rows, test, store).

Detection: a reference of 10,000 rows of ten features (eight numeric N(0, 1), two
categorical) against current windows of 500, 2,000 and 10,000 rows in which one numeric
feature is shifted by 0, 0.05, 0.1, 0.2 or 0.5 standard deviations (the first table), or one
categorical feature's top level is made 0, 0.025, 0.05, 0.1 or 0.2 more likely (the second
table). Each cell is the share of `--runs` seeded windows whose dataset verdict was drift,
with the default `DriftConfig` (README, "Drift", says why those defaults). A last table does
the same for a meaningless change: every numeric feature moved by 0.04 sd, the kind of
difference real data shows between two quiet weeks.

It prints numbers only: no thresholds, no pass/fail (tests/engine/test_drift.py holds the
error-rate assertions).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.drift import DriftConfig, detect_drift  # noqa: E402

SHIFTS = (0.0, 0.05, 0.1, 0.2, 0.5)
CATEGORY_SHIFTS = (0.0, 0.025, 0.05, 0.1, 0.2)
WINDOWS = (500, 2_000, 10_000)


def table(n: int, seed: int, *, shift=0.0, shifted=0, cat_shift=0.0, numeric=8, categorical=2):
    rng = np.random.default_rng(seed)
    columns, kinds = {}, {}
    for j in range(numeric):
        columns[f"x{j}"] = rng.normal(shift if j < shifted else 0.0, 1.0, size=n)
        kinds[f"x{j}"] = "numeric"
    base = np.array([0.4, 0.3, 0.2, 0.1])
    for j in range(categorical):
        p = base
        if j == 0 and cat_shift:
            p = base + np.array([cat_shift, -cat_shift / 3, -cat_shift / 3, -cat_shift / 3])
        columns[f"c{j}"] = rng.choice(np.array(list("abcd"), dtype=object), size=n, p=p)
        kinds[f"c{j}"] = "categorical"
    return columns, kinds


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def speed(engines: list[str]) -> None:
    from engine.drift_engines import run_engine

    rows = []
    for engine in engines:
        # Each library's import is paid once, outside the timing (a worker keeps it).
        first, kinds = table(200, 1, numeric=10, categorical=5)
        run_engine(engine, first, first, kinds)
        for n_ref, n_cur in ((50_000, 100_000), (10_000, 10_000), (10_000, 2_000)):
            reference, kinds = table(n_ref, 1, numeric=10, categorical=5)
            current, _ = table(n_cur, 2, shift=0.1, shifted=2, numeric=10, categorical=5)
            best = float("inf")
            for _ in range(1 if engine != "builtin" else 3):
                start = time.perf_counter()
                run_engine(engine, reference, current, kinds)
                best = min(best, time.perf_counter() - start)
            rows.append([engine, f"{n_ref:,}", f"{n_cur:,}", "15", f"{best:.3f}"])
            print(f"  {engine} {n_ref} x {n_cur}: {best:.2f} s", file=sys.stderr)
    print_table(
        "Engine speed (built-in: best of 3; libraries: one run after a warm-up import)",
        ["engine", "reference rows", "current rows", "features", "seconds"],
        rows,
    )


def rate(reference, kinds, runs: int, seed0: int, config: DriftConfig, **knobs) -> float:
    n = knobs.pop("n")
    flagged = 0
    for s in range(runs):
        current, _ = table(n, seed0 + s, **knobs)
        flagged += detect_drift(reference, current, kinds, config=config).drift_detected
    return flagged / runs


def detection(runs: int) -> None:
    config = DriftConfig()
    reference, kinds = table(10_000, 0)
    print(
        f"\nDefaults: q = {config.fdr_q}, numeric effect floor = {config.numeric_effect_floor} "
        f"(normalised Wasserstein), categorical floor = {config.categorical_effect_floor} "
        f"({config.categorical_effect}), rule = {config.dataset_rule} >= "
        f"{config.dataset_threshold}; {runs} seeded runs per cell."
    )
    grids = (
        ("one numeric feature shifted (sd)", SHIFTS, "shift", {"shifted": 1}),
        ("one categorical level made more likely", CATEGORY_SHIFTS, "cat_shift", {}),
        (
            "every numeric feature shifted (sd), a meaningless change",
            (0.0, 0.02, 0.04),
            "shift",
            {"shifted": 8},
        ),
    )
    for g, (title, values, knob, extra) in enumerate(grids):
        rows = []
        for n in WINDOWS:
            cells = []
            for i, value in enumerate(values):
                started = time.perf_counter()
                share = rate(
                    reference,
                    kinds,
                    runs,
                    100_000 * (g + 1) + 1_000 * i + n,
                    config,
                    n=n,
                    **{knob: value},
                    **extra,
                )
                cells.append(f"{share:.0%}")
                took = time.perf_counter() - started
                print(
                    f"  {title}: n={n} {knob}={value}: {share:.0%} ({took:.1f} s)", file=sys.stderr
                )
            rows.append([f"{n:,}", *cells])
        print_table(
            f"Share of windows flagged: {title}",
            ["window rows", *[str(v) for v in values]],
            rows,
        )


def end_to_end(logged: int) -> None:
    """A drift check from the prediction log of PostgreSQL: a throw-away database, a model
    registered from a 15-feature synthetic table, `logged` rows written to the log with the
    serving path's COPY, then `drift_check_run` on a window of all of them, timed whole and
    the engine alone."""
    from throwaway import throwaway_platform

    with throwaway_platform("modelyard_bench_drift"):
        _end_to_end(logged)


def _end_to_end(logged: int) -> None:
    from engine.search import SearchConfig, run_search
    from inference.ids import new_prediction_ids
    from inference.pipeline import Scored
    from inference.services.prediction_log import prediction_logs_write
    from inference.serving.cache import model_cache
    from monitoring import services
    from registry.services import dataset_generate_synthetic, model_version_register
    from registry.synthetic import SyntheticParams, generate

    params = SyntheticParams(rows=20_000, features=13, seed=3)
    dataset, _ = dataset_generate_synthetic(params=params)
    print("  training the model ...", file=sys.stderr)
    result = run_search(
        generate(SyntheticParams(rows=20_000, features=13, seed=3)),
        SearchConfig(target="label", n_trials=1, families=["logreg"], seed=0),
        columns=[],
    )
    version = model_version_register(model_name="bench", dataset=dataset, result=result)
    target = model_cache.resolve("bench")
    frame = generate(SyntheticParams(rows=logged, features=13, seed=4, mean_shift=0.3))
    rows = frame.drop(columns=["label"]).to_dict(orient="records")
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows]
    print(f"  logging {logged:,} predictions ...", file=sys.stderr)
    for start in range(0, len(rows), 10_000):
        part = rows[start : start + 10_000]
        proba = np.tile([0.4, 0.6], (len(part), 1))
        prediction_logs_write(
            target=target,
            ids=new_prediction_ids(len(part)),
            instances=part,
            scored=Scored(proba=proba, labels=["positive"] * len(part), unknown=[[]] * len(part)),
            class_labels=["negative", "positive"],
            unit_hash="",
            source="rest",
            request_id="",
            latency_ms=1.0,
        )
    monitor = services.drift_monitor_ensure(model=version.registered_model)
    services.drift_monitor_save(monitor=monitor, window_rows=logged, min_sample=100)
    table_rows = []
    for engine in ("builtin", "evidently"):
        services.drift_monitor_save(monitor=monitor, engine=engine)
        check = services.drift_check_create(monitor=monitor, enqueue=False)
        started = time.perf_counter()
        check = services.drift_check_run(check_id=check.pk)
        took = time.perf_counter() - started
        table_rows.append(
            [
                engine,
                f"{check.n_current:,}",
                f"{check.n_reference:,}",
                str(len(check.features)),
                f"{took:.2f}",
                check.verdict,
            ]
        )
        print(f"  {engine}: {took:.2f} s ({check.status})", file=sys.stderr)
    print_table(
        "End to end: drift_check_run on PostgreSQL's prediction log (read, parse, test, store)",
        ["engine", "window rows", "reference rows", "features", "seconds", "verdict"],
        table_rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--only", choices=("speed", "detection", "end-to-end"))
    parser.add_argument(
        "--engines", default="builtin,evidently,alibi", help="engines for the speed table"
    )
    parser.add_argument(
        "--logged", type=int, default=100_000, help="prediction-log rows for end-to-end"
    )
    args = parser.parse_args()
    print(
        f"# bench/drift.py on {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}\n# {' '.join([sys.executable, *sys.argv])}"
    )
    if args.only in (None, "speed"):
        speed([e for e in args.engines.split(",") if e])
    if args.only in (None, "detection"):
        detection(args.runs)
    if args.only in (None, "end-to-end"):
        end_to_end(args.logged)


if __name__ == "__main__":
    main()
