"""What one web process pays to start: import time, memory and the heavy libraries it loads.

A gunicorn worker of Modelyard boots by setting Django up and importing the URLconf and the
WSGI application (`gunicorn.conf.py`'s post_worker_init). This script does exactly that in a
fresh Python process, several times, and prints a table: wall and CPU seconds of the imports,
the process's peak resident memory afterwards, and which heavy libraries got imported on the
way (torch and optuna belong to training workers only; see `engine/`).

Worker memory after serving traffic is in the serving benchmark's table (bench/serving).

Run from the repository root:

    .venv/bin/python bench/webproc.py                   # this checkout, 5 runs
    .venv/bin/python bench/webproc.py --repo /tmp/old   # another checkout, same interpreter
    .venv/bin/python bench/webproc.py --runs 9 --json webproc.json

It needs no database server: each child uses a throw-away SQLite database in a temporary data
directory. Like every benchmark here it prints numbers and passes or fails nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HEAVY = ("torch", "optuna", "sklearn", "numba", "pandas", "scipy", "shap", "evidently")

CHILD = r"""
import json, os, resource, sys, time
wall0, cpu0 = time.perf_counter(), time.process_time()
import django
django.setup()
import mlops_site.urls  # noqa: F401
import mlops_site.wsgi  # noqa: F401
from django.urls import get_resolver
get_resolver().url_patterns  # noqa: B018
wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
heavy = json.loads(os.environ["BENCH_HEAVY"])
print(json.dumps({
    "wall_s": wall,
    "cpu_s": cpu,
    "maxrss_mb": rss_kb / 1024,
    "modules": len(sys.modules),
    "heavy": [m for m in heavy if m in sys.modules],
}))
"""


def run_child(repo: Path, python: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="modelyard-webproc-") as data:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
        }
        env.update(
            MODELYARD_DATA_DIR=data,
            SECRET_KEY="bench",
            DJANGO_SETTINGS_MODULE="mlops_site.settings",
            BENCH_HEAVY=json.dumps(HEAVY),
            PYTHONDONTWRITEBYTECODE="",
        )
        out = subprocess.run(
            [python, "-c", CHILD], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
    if out.returncode != 0:
        raise SystemExit(f"child failed in {repo}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, action="append", help="checkout(s) to measure")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    repos = args.repo or [Path(__file__).resolve().parents[1]]
    rows = []
    for repo in repos:
        repo = repo.resolve()
        run_child(repo, sys.executable)  # warm the bytecode caches; not measured
        runs = [run_child(repo, sys.executable) for _ in range(args.runs)]
        rows.append(
            {
                "repo": str(repo),
                "wall_s": statistics.median(r["wall_s"] for r in runs),
                "cpu_s": statistics.median(r["cpu_s"] for r in runs),
                "maxrss_mb": statistics.median(r["maxrss_mb"] for r in runs),
                "modules": runs[-1]["modules"],
                "heavy": runs[-1]["heavy"],
            }
        )
    print(f"# web process start-up: django.setup() + URLconf + WSGI app, median of {args.runs}")
    print()
    print("| checkout | wall s | CPU s | peak RSS MB | modules | heavy libraries loaded |")
    print("|:--|--:|--:|--:|--:|:--|")
    for r in rows:
        print(
            f"| {r['repo']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['maxrss_mb']:.0f} "
            f"| {r['modules']:,} | {', '.join(r['heavy']) or 'none'} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
