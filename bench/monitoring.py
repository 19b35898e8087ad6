"""Monitoring at scale: /metrics and the pages with tens of millions of logged predictions,
performance snapshots per interval, the retention delete rate, and what measuring each
request's CPU time costs the serving fast path.

Run from the repository root:

    .venv/bin/python bench/monitoring.py                       # 1 and 20,000,000 logged rows
    .venv/bin/python bench/monitoring.py --rows 1,1000000      # quicker
    .venv/bin/python bench/monitoring.py --only fastpath       # cost measurement on vs off

Tables 1-3 need PostgreSQL on 127.0.0.1:5432 (or $BENCH_PG): a throw-away database with two
versions of a model (production v1 serving 90 % of the rows, candidate v2 10 %), the rows
spread over the last 100 days with a tenth of them labelled, the tallies the log writers and
feedback keep, a week of per-minute performance snapshots per version and a month of hourly
cost records. Writing 20 million rows takes about 10 minutes here.

- Table 1: each page and /metrics through Django's test client (the whole view: queries,
  template, no HTTP), median and max of 7 after a warm-up.
- Table 2: `interval_traffic` for one minute (the query behind a snapshot) and
  `performance_snapshots_write` for five due minutes of both versions.
- Table 3: `prediction_log_retention` deleting the rows older than 90 days, in its batches.
- Table 4 (`--only fastpath`, or with the rest): bench/serving/run.py with single-row requests
  at 1 and 8 connections, COST_INFERENCE_CPU=1 and 0 alternated twice (A B A B) on one
  trained platform (--reuse), requests per second per setting (about 6 minutes, the first
  run trains the model).

It prints numbers only: no thresholds, no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def print_table(title: str, header: list[str], rows: list[list[str]], notes: list[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    for note in notes:
        print(f"\n{note}")


def timed(call, runs: int = 7) -> tuple[float, float]:
    call()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, max(times) * 1000


# -- the platform at scale -------------------------------------------------------------------


def _setup():
    """Two versions of `bench`, a staff user, and a logged-in test client."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from throwaway import two_versions

    versions = two_versions("bench")
    user = get_user_model().objects.create_user("bench", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return versions, client


def _fill(versions, rows: int) -> None:
    """`rows` log rows over the last 100 days (v1 90 %, v2 10 %; a tenth labelled), their
    tallies, a week of snapshots per version and a month of hourly cost records."""
    from django.db import connection

    model_id = versions[0].registered_model_id
    a, b = versions[0].pk, versions[1].pk
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE inference_predictionlog, inference_predictiontally, "
            "monitoring_performancesnapshot, monitoring_costrecord"
        )
        step = 2_000_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            cursor.execute(
                """
                INSERT INTO inference_predictionlog (id, registered_model_id, model_version_id,
                    arm, unit_hash, source, request_id, features, prediction, probabilities,
                    unknown_categories, latency_ms, created_at, label, labelled_at, is_correct)
                SELECT gen_random_uuid(), %(model)s,
                    CASE WHEN i %% 10 = 0 THEN %(b)s ELSE %(a)s END, '', '', 'rest', '',
                    '{"x0": 1.0, "x1": 2.0, "channel": "web"}', '1', '{"0": 0.4, "1": 0.6}',
                    '[]', 1 + random(),
                    now() - ((i::float8 / %(total)s) * interval '100 days'),
                    CASE WHEN i %% 10 = 3 THEN '1' END,
                    CASE WHEN i %% 10 = 3 THEN now() END,
                    CASE WHEN i %% 10 = 3 THEN random() < 0.85 END
                FROM generate_series(%(first)s, %(last)s) AS i
                """,
                {
                    "model": model_id,
                    "a": a,
                    "b": b,
                    "total": rows,
                    "first": start + 1,
                    "last": start + n,
                },
            )
            log(f"  {start + n:,} of {rows:,} log rows written")
        cursor.execute(
            """
            INSERT INTO inference_predictiontally (ab_test_id, arm, model_version_id, requests,
                predictions, units, errors, labelled, correct, pairs, pairs_champion_only,
                pairs_challenger_only)
            SELECT 0, '', model_version_id, count(*), count(*), 0, 0, count(label),
                count(*) FILTER (WHERE is_correct), 0, 0, 0
            FROM inference_predictionlog GROUP BY model_version_id
            """
        )
        cursor.execute(
            """
            INSERT INTO monitoring_performancesnapshot (registered_model_id, model_version_id,
                interval_start, interval_seconds, requests, rows, errors, errors_by_reason,
                latency_p50_ms, latency_p95_ms, latency_p99_ms, rows_per_second, labelled,
                correct, live_accuracy, estimated_accuracy, created_at)
            SELECT %(model)s, v, date_trunc('minute', now()) - m * interval '1 minute', 60,
                120, 130, 1, '{"invalid_input": 1}', 1.2, 2.5, 4.0, 2.2, 13, 11, 0.85, 0.84,
                now()
            FROM generate_series(6, 7 * 24 * 60) AS m, unnest(ARRAY[%(a)s, %(b)s]) AS v
            """,
            {"model": model_id, "a": a, "b": b},
        )
        cursor.execute(
            """
            INSERT INTO monitoring_costrecord (kind, key, model_name, version, source,
                source_id, started_at, ended_at, cpu_seconds, bytes, predictions, amount,
                currency, unit_price, detail, created_at, updated_at)
            SELECT 'inference', 'inference:' || v || ':' || h, 'bench', v, 'serving', v,
                date_trunc('hour', now()) - h * interval '1 hour',
                date_trunc('hour', now()) - (h - 1) * interval '1 hour', 12.5, 0, 40000,
                0.000166, 'USD', 0.048, '{}', now(), now()
            FROM generate_series(1, 30 * 24) AS h, generate_series(1, 2) AS v
            """
        )
        cursor.execute("VACUUM ANALYZE")


def scale_tables(sizes: list[int]) -> None:
    from throwaway import throwaway_platform

    with throwaway_platform("modelyard_bench_monitoring"):
        _scale_tables(sizes)


def _scale_tables(sizes: list[int]) -> None:
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from inference.selectors import interval_traffic
    from monitoring.models import PerformanceSnapshot
    from monitoring.services import performance_snapshots_write, prediction_log_retention

    call_command("collectstatic", "--noinput", verbosity=0)  # pages render as in production
    versions, client = _setup()
    pages = [
        ("/metrics", "/metrics"),
        ("dashboard", "/"),
        ("Monitoring tab", "/monitoring/"),
        ("model history, week", "/monitoring/bench/?range=week"),
        ("Costs, month", "/costs/?range=month"),
    ]
    page_rows, snapshot_rows, retention_rows = [], [], []
    for size in sizes:
        log(f"filling {size:,} rows ...")
        started = time.perf_counter()
        _fill(versions, size)
        log(f"  ... {time.perf_counter() - started:.0f} s")
        for label, path in pages:

            def get(path=path):
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)

            median, worst = timed(get)
            page_rows.append([f"{size:,}", label, f"{median:.1f}", f"{worst:.1f}"])

        now = timezone.now()
        minute = now.replace(second=0, microsecond=0) - timedelta(minutes=10)
        median, worst = timed(
            lambda minute=minute: interval_traffic(
                version_id=versions[0].pk, since=minute, until=minute + timedelta(minutes=1)
            )
        )
        snapshot_rows.append([f"{size:,}", "interval_traffic, one minute of v1", f"{median:.1f}"])

        def write_five(now=now):
            PerformanceSnapshot.objects.filter(
                interval_start__gte=now - timedelta(minutes=6)
            ).delete()
            return performance_snapshots_write(now=now)

        times = []
        for _ in range(5):
            started = time.perf_counter()
            written = write_five()
            times.append((time.perf_counter() - started) * 1000 / max(written, 1))
        snapshot_rows.append(
            [
                f"{size:,}",
                "performance_snapshots_write, per snapshot",
                f"{statistics.median(times):.1f}",
            ]
        )

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM inference_predictionlog "
                "WHERE created_at < now() - interval '90 days'"
            )
            old = cursor.fetchone()[0]
        started = time.perf_counter()
        deleted = prediction_log_retention()
        seconds = time.perf_counter() - started
        batches = max(-(-deleted // 10_000), 1)
        retention_rows.append(
            [
                f"{size:,}",
                f"{old:,}",
                f"{deleted:,}",
                f"{seconds:.1f}",
                f"{deleted / seconds:,.0f}" if seconds else "—",
                f"{seconds * 1000 / batches:.0f}",
            ]
        )
    print_table(
        "Table 1. Page and scrape time on PostgreSQL, by logged rows",
        ["logged rows", "page", "median ms (7 runs)", "max ms"],
        page_rows,
        [
            "Django's test client, logged in as staff: the view's queries and template, no "
            "HTTP. /metrics reads the tallies (live accuracy), the latest drift check, A/B "
            "snapshots, job and event counts, queue depth and cost totals: nothing scans the "
            "log. The pages read snapshots (a week: 2 x 10,074 rows) and cost records (a "
            "month: 2 x 720 rows).",
        ],
    )
    print_table(
        "Table 2. Snapshot computation on PostgreSQL",
        ["logged rows", "what", "median ms"],
        snapshot_rows,
        [
            "`interval_traffic`: one version's rows of one minute along the (version, "
            "created_at) index, percentiles in the database. `performance_snapshots_write`: "
            "five due minutes of two versions rewritten (10 snapshots), per snapshot.",
        ],
    )
    print_table(
        "Table 3. Retention on PostgreSQL (PREDICTION_LOG_RETENTION_DAYS = 90)",
        ["logged rows", "older than 90 days", "deleted", "seconds", "rows/s", "ms per batch"],
        retention_rows,
        [
            "Batches of 10,000 rows (PREDICTION_LOG_RETENTION_BATCH_ROWS), each its own "
            "transaction: the longest a batch holds its row locks is about the last column.",
        ],
    )


# -- the fast path with cost measurement on and off ---------------------------------------------


def fastpath(reuse: Path, duration: int) -> None:
    results: dict[str, dict[int, list[float]]] = {"1": {}, "0": {}}
    for setting in ("1", "0", "1", "0"):
        out = Path(tempfile.mkstemp(suffix=".json")[1])
        log(f"serving bench, COST_INFERENCE_CPU={setting} ...")
        subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / "serving" / "run.py"),
                "--rows",
                "1",
                "--concurrency",
                "1,8",
                "--targets",
                "platform",
                "--duration",
                str(duration),
                "--reuse",
                str(reuse),
                "--json",
                str(out),
            ],
            check=True,
            env={**os.environ, "COST_INFERENCE_CPU": setting},
            stdout=subprocess.DEVNULL,
        )
        report = json.loads(out.read_text())
        out.unlink()
        for scenario in report["scenarios"]:
            if scenario.get("target") != "platform":
                continue
            results[setting].setdefault(scenario["concurrency"], []).append(
                scenario["requests_per_s"]
            )
    rows = []
    for concurrency in sorted(results["1"]):
        on = statistics.mean(results["1"][concurrency])
        off = statistics.mean(results["0"][concurrency])
        rows.append(
            [
                "1",
                str(concurrency),
                " / ".join(f"{v:,.0f}" for v in results["1"][concurrency]),
                " / ".join(f"{v:,.0f}" for v in results["0"][concurrency]),
                f"{(on - off) / off * 100:+.1f} %",
            ]
        )
    print_table(
        "Table 4. Serving fast path, cost measurement on vs off (bench/serving/run.py)",
        ["rows", "connections", "req/s on (A, A)", "req/s off (B, B)", "on vs off"],
        rows,
        [
            "Single-row requests to the platform under gunicorn (2 sync workers) driven by "
            f"wrk for {duration} s a scenario, runs alternated on, off, on, off. On: each "
            "request reads its thread's CPU clock twice and its time goes into the per-minute "
            "UsageTally upsert the log writer already batches.",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        default="1,20000000",
        help="logged rows per measurement, comma separated (default 1,20000000)",
    )
    parser.add_argument("--only", choices=["scale", "fastpath"], help="run one part (default both)")
    parser.add_argument(
        "--reuse",
        type=Path,
        default=Path(tempfile.gettempdir()) / "modelyard-bench-monitoring",
        help="bench/serving's trained platform to reuse between runs",
    )
    parser.add_argument("--duration", type=int, default=10, help="serving seconds a scenario")
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",") if s.strip()]
    print(
        f"# machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
    )
    print(f"# command: {' '.join([sys.executable, *sys.argv])}")
    if args.only in (None, "scale"):
        scale_tables(sizes)
    if args.only in (None, "fastpath"):
        fastpath(args.reuse, args.duration)
    print(f"\n# total wall time {time.monotonic() - STARTED:.0f} s")


if __name__ == "__main__":
    main()
