"""Drift detection: how fast the built-in engine is, and how often it flags a table.

Run from the repository root:

    .venv/bin/python bench/drift.py                 # speed + detection grid, 100 runs a cell
    .venv/bin/python bench/drift.py --runs 30       # a quicker, coarser grid
    .venv/bin/python bench/drift.py --only speed

Speed: `engine.drift.detect_drift` on 15 features (10 numeric, 5 categorical), current
window against a reference sample, best of 3.

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


def speed() -> None:
    rows = []
    for n_ref, n_cur in ((50_000, 100_000), (10_000, 10_000), (10_000, 2_000)):
        reference, kinds = table(n_ref, 1, numeric=10, categorical=5)
        current, _ = table(n_cur, 2, shift=0.1, shifted=2, numeric=10, categorical=5)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            detect_drift(reference, current, kinds)
            best = min(best, time.perf_counter() - start)
        rows.append([f"{n_ref:,}", f"{n_cur:,}", "15", f"{best:.3f}"])
    print_table(
        "Built-in engine speed (best of 3)",
        ["reference rows", "current rows", "features", "seconds"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--only", choices=("speed", "detection"))
    args = parser.parse_args()
    print(
        f"# bench/drift.py on {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}\n# {' '.join([sys.executable, *sys.argv])}"
    )
    if args.only in (None, "speed"):
        speed()
    if args.only in (None, "detection"):
        detection(args.runs)


if __name__ == "__main__":
    main()
