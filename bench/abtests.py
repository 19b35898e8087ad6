"""A/B test statistics (engine/abstats.py): error rates under peeking, power, and labels to a
decision, by seeded simulation.

Run from the repository root:

    .venv/bin/python bench/abtests.py            # 10,000 A/A tests, 5,000 runs a power cell
    .venv/bin/python bench/abtests.py --quick    # 2,000 and 500, and 1M logged rows only
    .venv/bin/python bench/abtests.py --only evaluation --logged 1000000,10000000

The evaluation table (Table 3) needs PostgreSQL on 127.0.0.1:5432 (or $BENCH_PG): a throw-away
database with 1 and 10 million logged rows in a test, `abtest_evaluate` timed against the
aggregate of the log it avoids (about 3 minutes to write the 10 million rows).

Every simulated test is a champion at accuracy 0.85 against a challenger, looked at after
every 100 labelled rows per arm (split) or 100 labelled pairs (shadow).

- Split mode: two independent arms, each batch Binomial(100, p) correct rows per arm.
- Shadow mode: both versions score the same labelled rows. Model: the champion is right on a
  row with probability pA = 0.85; the two versions disagree on a share D = 0.10 of the rows
  (two independent 85 % models would disagree on 25.5 %; versions of one model trained on
  similar data agree far more), and a disagreement goes the challenger's way with probability
  (D + delta) / (2 D), so P(challenger only right) = (D + delta) / 2, P(champion only right) =
  (D - delta) / 2 and the challenger's accuracy is pA + delta. Per batch the discordant counts
  are Multinomial(100; (D - delta) / 2, (D + delta) / 2, 1 - D); only they enter the statistics.

The looks are vectorised over the simulated tests: the same formulas as `abstats.two_sample`,
`abstats.paired`, `abstats.z_test` and `abstats.mcnemar_exact` on numpy arrays, checked first
against those functions look by look (the script stops if they disagree).

It prints numbers only: no thresholds, no pass/fail (tests/engine/test_abstats.py holds the
error-rate assertions).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import abstats  # noqa: E402

BASELINE = 0.85
BATCH = 100  # labelled rows per arm (split) or pairs (shadow) between looks
DISCORDANCE = 0.10  # shadow mode: share of rows on which the two versions disagree
ALPHA = 0.05
AA_MDE = 0.02  # the A/A tests' planned mde, so tau2 = default_tau2(0.02)
AA_LOOKS = 50
EFFECTS = (0.01, 0.02, 0.05)
CAP = 200_000  # labelled rows per arm (pairs in shadow mode) after which a run gives up
CHUNK = 50  # looks simulated at once for the runs still undecided


def print_table(title: str, header: list[str], rows: list[list[str]], notes: list[str]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if notes:
        print()
        for note in notes:
            print(f"- {note}")


# -- the engine's formulas on arrays -------------------------------------------------------


def log_lr(theta: np.ndarray, variance: np.ndarray, tau2: float, n: np.ndarray) -> np.ndarray:
    """log Lambda of `abstats.msprt`; 0 (no evidence) where V is not positive or the arm is
    below MIN_ROWS_PER_ARM, as `abstats.two_sample` / `abstats.paired` do."""
    usable = (variance > 0) & (n >= abstats.MIN_ROWS_PER_ARM)
    v = np.where(usable, variance, 1.0)
    value = 0.5 * np.log(v / (v + tau2)) + theta**2 * tau2 / (2 * v * (v + tau2))
    return np.where(usable, value, 0.0)


def significant(log_lr_value: np.ndarray, alpha: float) -> np.ndarray:
    """This look's 1/Lambda below alpha; 'ever significant' is then the running minimum."""
    return np.exp(-np.maximum(log_lr_value, 0.0)) < alpha


def split_moments(correct_a, correct_b, n):
    pa, pb = correct_a / n, correct_b / n
    return pb - pa, pa * (1 - pa) / n + pb * (1 - pb) / n


def paired_moments(champion_only, challenger_only, n):
    theta = (challenger_only - champion_only) / n
    return theta, ((champion_only + challenger_only) / n - theta**2) / n


def z_p_values(correct_a, correct_b, n):
    """Two-sided p of the pooled z-test with n rows per arm (1 where undefined)."""
    pooled = (correct_a + correct_b) / (2 * n)
    se = np.sqrt(pooled * (1 - pooled) * 2 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (correct_b - correct_a) / n / se, 0.0)
    return 2 * stats.norm.sf(np.abs(z))


def mcnemar_p_values(champion_only, challenger_only):
    total = champion_only + challenger_only
    tail = stats.binom.cdf(np.minimum(champion_only, challenger_only), total, 0.5)
    return np.where(total > 0, np.minimum(1.0, 2 * tail), 1.0)


# -- simulation ----------------------------------------------------------------------------


def shadow_probabilities(delta: float) -> list[float]:
    return [(DISCORDANCE - delta) / 2, (DISCORDANCE + delta) / 2, 1 - DISCORDANCE]


def split_batches(rng, runs: int, looks: int, delta: float):
    a = rng.binomial(BATCH, BASELINE, size=(runs, looks))
    b = rng.binomial(BATCH, BASELINE + delta, size=(runs, looks))
    return a, b


def shadow_batches(rng, runs: int, looks: int, delta: float):
    counts = rng.multinomial(BATCH, shadow_probabilities(delta), size=(runs, looks))
    return counts[..., 0], counts[..., 1]  # champion only, challenger only


def check_against_engine(rng) -> None:
    """The vectorised looks are the engine's functions: 20 runs of 30 looks each way."""
    tau2 = abstats.default_tau2(AA_MDE)
    n = BATCH * np.arange(1, 31)
    for mode in ("split", "shadow"):
        make = split_batches if mode == "split" else shadow_batches
        x, y = (c.cumsum(axis=1) for c in make(rng, 20, 30, 0.02))
        moments = split_moments if mode == "split" else paired_moments
        theta, v = moments(x, y, n)
        ever = np.logical_or.accumulate(significant(log_lr(theta, v, tau2, n), ALPHA), axis=1)
        fixed = z_p_values(x, y, n) if mode == "split" else mcnemar_p_values(x, y)
        for r in range(20):
            previous = None
            for i in range(30):
                k = int(n[i])
                if mode == "split":
                    previous = abstats.two_sample(
                        k, int(x[r, i]), k, int(y[r, i]), tau2=tau2, alpha=ALPHA, previous=previous
                    )
                    reference = abstats.z_test(k, int(x[r, i]), k, int(y[r, i])).p_value
                else:
                    previous = abstats.paired(
                        k, int(x[r, i]), int(y[r, i]), tau2=tau2, alpha=ALPHA, previous=previous
                    )
                    reference = abstats.mcnemar_exact(int(x[r, i]), int(y[r, i]))
                if previous.significant != ever[r, i] or not math.isclose(
                    fixed[r, i], reference, rel_tol=1e-9, abs_tol=1e-12
                ):
                    raise SystemExit(f"vectorised {mode} look differs from engine.abstats")


def mc_se(rate: float, runs: int) -> float:
    return math.sqrt(rate * (1 - rate) / runs)


def false_positives(rng, runs: int) -> None:
    tau2 = abstats.default_tau2(AA_MDE)
    n = BATCH * np.arange(1, AA_LOOKS + 1)
    results = {}
    for mode in ("split", "shadow"):
        started = time.perf_counter()
        if mode == "split":
            a, b = (c.cumsum(axis=1) for c in split_batches(rng, runs, AA_LOOKS, 0.0))
            theta, v = split_moments(a, b, n)
            fixed = z_p_values(a, b, n)
        else:
            b, c = (x.cumsum(axis=1) for x in shadow_batches(rng, runs, AA_LOOKS, 0.0))
            theta, v = paired_moments(b, c, n)
            fixed = mcnemar_p_values(b, c)
        results[mode] = (
            significant(log_lr(theta, v, tau2, n), ALPHA).any(axis=1).mean(),
            (fixed < ALPHA).any(axis=1).mean(),
            (fixed[:, -1] < ALPHA).mean(),
        )
        took = time.perf_counter() - started
        print(f"  A/A {mode}: {runs:,} tests x {AA_LOOKS} looks ({took:.1f} s)", file=sys.stderr)
    names = (
        "mSPRT (always valid), every look",
        "fixed-horizon test, peeked at every look",
        "fixed-horizon test, once at the last look",
    )
    rows = []
    for i, name in enumerate(names):
        cells = [name]
        for mode in ("split", "shadow"):
            rate = results[mode][i]
            cells += [f"{rate:.2%} ± {mc_se(rate, runs):.2%}", f"{rate / ALPHA:.2f}"]
        rows.append(cells)
    print_table(
        f"Table 1. False-positive rate under continuous peeking: {runs:,} A/A tests a mode, "
        f"accuracy {BASELINE} in both arms, a look after every {BATCH} labelled rows per arm "
        f"(pairs in shadow mode), {AA_LOOKS} looks (up to {AA_LOOKS * BATCH:,} rows per arm)",
        [
            "procedure",
            "split: rate ± MC s.e.",
            "split: rate / alpha",
            "shadow: rate ± MC s.e.",
            "shadow: rate / alpha",
        ],
        rows,
        [
            f"rate: share of A/A tests declared significant at alpha = {ALPHA} at any look "
            "(the last row: at the last look only); MC s.e. = sqrt(rate (1 - rate) / tests).",
            f"mSPRT: `abstats.two_sample` (split) / `abstats.paired` (shadow) with tau2 = "
            f"default_tau2({AA_MDE}) = {tau2:g}.",
            "fixed-horizon test: the pooled z-test `abstats.z_test` (split), McNemar's exact "
            "test `abstats.mcnemar_exact` (shadow).",
        ],
    )


def run_to_decision(rng, runs: int, delta: float, mode: str, tau2: float):
    """Per run: labelled rows per arm (pairs) at the first significant look or the cap, and
    the sign of the estimate there (0: no decision by the cap). Looks are drawn CHUNK at a time
    for the runs still undecided."""
    max_looks = CAP // BATCH
    rows = np.full(runs, CAP, dtype=np.int64)
    sign = np.zeros(runs, dtype=np.int64)
    alive = np.arange(runs)
    x_total = np.zeros(runs, dtype=np.int64)
    y_total = np.zeros(runs, dtype=np.int64)
    done = 0
    while alive.size and done < max_looks:
        looks = min(CHUNK, max_looks - done)
        make = split_batches if mode == "split" else shadow_batches
        x, y = make(rng, alive.size, looks, delta)
        x = x.cumsum(axis=1) + x_total[alive, None]
        y = y.cumsum(axis=1) + y_total[alive, None]
        n = BATCH * np.arange(done + 1, done + looks + 1)
        theta, v = (split_moments if mode == "split" else paired_moments)(x, y, n)
        hit = significant(log_lr(theta, v, tau2, n), ALPHA)
        decided = hit.any(axis=1)
        first = hit.argmax(axis=1)
        idx = alive[decided]
        rows[idx] = n[first[decided]]
        sign[idx] = np.sign(theta[decided, first[decided]]).astype(np.int64)
        x_total[alive], y_total[alive] = x[:, -1], y[:, -1]
        alive = alive[~decided]
        done += looks
    return rows, sign


def paired_fixed_horizon(delta: float, alpha: float, power: float) -> int:
    """Pairs for a fixed-horizon two-sided paired test (normal form of McNemar's, Connor 1987):
    n = (z_{1-alpha/2} sqrt(D) + z_power sqrt(D - delta^2))^2 / delta^2."""
    z_a, z_b = stats.norm.isf(alpha / 2), stats.norm.ppf(power)
    d = DISCORDANCE
    return math.ceil((z_a * math.sqrt(d) + z_b * math.sqrt(d - delta**2)) ** 2 / delta**2)


def paired_crossing(delta: float, tau2: float, alpha: float) -> int:
    """Pairs at which the mSPRT crosses when theta_hat = delta, the formula of
    `abstats.sample_size` with V = (D - delta^2) / N."""
    unit = DISCORDANCE - delta**2

    def excess(log_n: float) -> float:
        v = unit / math.exp(log_n)
        return (
            delta**2 * tau2 / (2 * v * (v + tau2))
            - 0.5 * math.log1p(tau2 / v)
            - math.log(1 / alpha)
        )

    high = math.log(unit / delta**2) + 1
    while excess(high) <= 0:
        high += 1
    return math.ceil(math.exp(optimize.brentq(excess, math.log(1e-3), high)))


def power_table(rng, runs: int) -> None:
    rows = []
    split_mean = {}
    for mode in ("split", "shadow"):
        for delta in EFFECTS:
            tau2 = abstats.default_tau2(delta)
            started = time.perf_counter()
            stop_rows, sign = run_to_decision(rng, runs, delta, mode, tau2)
            took = time.perf_counter() - started
            print(f"  power {mode} +{delta:.2f}: {runs:,} runs ({took:.1f} s)", file=sys.stderr)
            power = (sign > 0).mean()
            wrong = (sign < 0).mean()
            mean_rows = stop_rows.mean()
            if mode == "split":
                planned = abstats.sample_size(BASELINE, delta, alpha=ALPHA, power=0.8)
                fixed, predicted = planned.per_arm, planned.sequential_per_arm
                split_mean[delta] = mean_rows
                ratio = "1"
            else:
                fixed = paired_fixed_horizon(delta, ALPHA, 0.8)
                predicted = paired_crossing(delta, tau2, ALPHA)
                ratio = f"{mean_rows / split_mean[delta]:.2f}"
            rows.append(
                [
                    mode,
                    f"+{delta * 100:.0f} ({BASELINE} → {BASELINE + delta:.2f})",
                    f"{power:.1%} ± {mc_se(power, runs):.1%}",
                    f"{wrong:.2%}",
                    f"{mean_rows:,.0f}",
                    f"{np.median(stop_rows):,.0f}",
                    f"{fixed:,}",
                    f"{(stop_rows <= fixed).mean():.0%}",
                    f"{predicted:,}",
                    ratio,
                ]
            )
    print_table(
        f"Table 2. Power and labelled rows to a decision: {runs:,} runs a cell, champion "
        f"accuracy {BASELINE}, a look after every {BATCH} labelled rows per arm (pairs in shadow "
        f"mode), stopping at the first significant look or at {CAP:,} rows per arm",
        [
            "mode",
            "effect, points",
            "power ± MC s.e.",
            "wrong sign",
            "mean rows per arm to stop",
            "median",
            "fixed horizon (80 % power)",
            "decided within it",
            "predicted sequential stop",
            "rows vs split",
        ],
        rows,
        [
            f"mSPRT at alpha = {ALPHA} with tau2 = default_tau2(effect): each test planned with "
            "mde = the true effect.",
            "power: share of runs significant with the challenger ahead before the cap; wrong "
            "sign: significant with the champion ahead.",
            "mean / median rows per arm to stop: labelled rows per arm (split) or labelled pairs "
            "(shadow) at the first significant look; runs reaching the cap count as the cap.",
            "fixed horizon: split, `abstats.sample_size(...).per_arm`; shadow, the paired "
            "(McNemar) normal formula n = (z_{1-a/2} sqrt(D) + z_power sqrt(D - d^2))^2 / d^2.",
            "decided within it: share of runs whose sequential test was significant by the "
            "fixed-horizon rows (the fixed test has 80 % power there).",
            "predicted sequential stop: split, `abstats.sample_size(...).sequential_per_arm`; "
            "shadow, the same crossing equation with V = (D - d^2) / N. It is where the mSPRT "
            "crosses when the estimate sits at its expectation.",
            "rows vs split: shadow mean rows per arm / split mean rows per arm at the same effect. "
            "A shadow test labels each row once for both arms, so in labels over both arms the "
            "saving is twice that.",
            f"shadow model: discordance D = {DISCORDANCE} (module docstring).",
            f"at +5 points a test stops within a few looks, so the {BATCH}-row spacing of the "
            "looks dominates its mean, and the ratio.",
        ],
    )
    for delta in EFFECTS:
        shadow_row = next(
            r for r in rows if r[0] == "shadow" and r[1].startswith(f"+{delta * 100:.0f} ")
        )
        factor = 1 / float(shadow_row[-1])
        print(
            f"- +{delta * 100:.0f} points: shadow needs {factor:.1f}x fewer labelled rows per arm "
            f"than split ({2 * factor:.1f}x fewer labels in all)."
        )


def evaluation(sizes: list[int]) -> None:
    """`abtest_evaluate` on PostgreSQL (127.0.0.1:5432 or $BENCH_PG) with `sizes` logged rows
    in the test: a throw-away database, two logistic regressions, the rows written half to
    each arm with generate_series and the arms' tallies as the log writers and feedback
    service keep them; then the evaluation timed, against the GROUP BY over the test's log
    rows that the tallies replace."""
    from throwaway import throwaway_platform

    with throwaway_platform("modelyard_bench_abtests"):
        _evaluation(sizes)


def _evaluation(sizes: list[int]) -> None:
    import statistics

    from django.db import connection
    from throwaway import two_versions

    from abtests.services import abtest_create, abtest_evaluate

    versions = two_versions("bench")
    rows = []
    for size in sizes:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE abtests_abtest SET status = 'stopped'")
            cursor.execute("TRUNCATE inference_predictionlog, inference_predictiontally")
        test = abtest_create(challenger=versions[1], min_labelled_per_arm=10**9)
        print(f"  writing {size:,} log rows ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # Half to each arm, every row labelled, 85 % / 86 % right.
            cursor.execute(
                """
                INSERT INTO inference_predictionlog (id, registered_model_id,
                    model_version_id, ab_test_id, arm, unit_hash, source, request_id,
                    features, prediction, probabilities, unknown_categories, latency_ms,
                    created_at, label, labelled_at, is_correct)
                SELECT gen_random_uuid(), %(model)s,
                    CASE WHEN i %% 2 = 0 THEN %(a)s ELSE %(b)s END, %(test)s,
                    CASE WHEN i %% 2 = 0 THEN 'champion' ELSE 'challenger' END, '',
                    'rest', '', '{"x0": 1.0}', '1', '{"0": 0.4, "1": 0.6}', '[]',
                    1 + random(), now() - (i || ' milliseconds')::interval, '1', now(),
                    random() < CASE WHEN i %% 2 = 0 THEN 0.85 ELSE 0.86 END
                FROM generate_series(1, %(size)s) AS i
                """,
                {
                    "model": versions[0].registered_model_id,
                    "a": versions[0].pk,
                    "b": versions[1].pk,
                    "test": test.pk,
                    "size": size,
                },
            )
            cursor.execute(
                """
                INSERT INTO inference_predictiontally (ab_test_id, arm, model_version_id,
                    requests, predictions, units, errors, labelled, correct, pairs,
                    pairs_champion_only, pairs_challenger_only)
                SELECT ab_test_id, arm, model_version_id, count(*), count(*), count(*), 0,
                    count(label), count(*) FILTER (WHERE is_correct), 0, 0, 0
                FROM inference_predictionlog WHERE ab_test_id = %s
                GROUP BY ab_test_id, arm, model_version_id
                """,
                [test.pk],
            )
            cursor.execute("VACUUM ANALYZE inference_predictionlog")
        print(f"  ... {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            abtest_evaluate(test_id=test.pk)
            times.append(time.perf_counter() - started)
        scans = []
        for _ in range(3):
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT arm, count(*), count(label), count(*) FILTER (WHERE is_correct)"
                    " FROM inference_predictionlog WHERE ab_test_id = %s GROUP BY arm",
                    [test.pk],
                )
                cursor.fetchall()
            scans.append(time.perf_counter() - started)
        rows.append(
            [
                f"{size:,}",
                f"{statistics.median(times) * 1000:.1f}",
                f"{max(times) * 1000:.1f}",
                f"{statistics.median(scans) * 1000:,.0f}",
            ]
        )
    print_table(
        "Table 3. Evaluation time on PostgreSQL",
        [
            "logged rows in the test",
            "abtest_evaluate, median ms (5 runs)",
            "max ms",
            "aggregating the log instead, median ms (3 runs)",
        ],
        rows,
        [
            "`abtest_evaluate`: lock the test, read the arms' tallies, p95 latency over "
            "each arm's newest 5,000 rows, the statistics, store a snapshot.",
            "The last column is the GROUP BY over the test's log rows that the tallies "
            "replace (what an evaluation without them would run every minute).",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 A/A tests, 500 power runs")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=("simulation", "evaluation"))
    parser.add_argument(
        "--logged",
        default="1000000,10000000",
        help="logged rows in the evaluation table (default 1M and 10M; --quick: 1M)",
    )
    args = parser.parse_args()
    aa_runs, power_runs = (2_000, 500) if args.quick else (10_000, 5_000)
    started = time.perf_counter()
    print(
        f"# bench/abtests.py on {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}\n# {' '.join([sys.executable, *sys.argv])}"
    )
    rng = np.random.default_rng(args.seed)
    if args.only in (None, "simulation"):
        check_against_engine(rng)
        false_positives(rng, aa_runs)
        power_table(rng, power_runs)
    if args.only in (None, "evaluation"):
        sizes = [int(x) for x in args.logged.split(",") if x.strip()]
        evaluation(sizes[:1] if args.quick else sizes)

    print(f"\n# total wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
