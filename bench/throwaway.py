"""A throw-away platform for the benchmarks that need one: a fresh PostgreSQL database
(127.0.0.1:5432 or $BENCH_PG) and data directory, Django set up and migrated, both removed
afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager


@contextmanager
def throwaway_platform(name: str):
    """Within it, Django is set up against database `name` (dropped and created first)."""
    import psycopg

    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    data = tempfile.mkdtemp(prefix=f"{name}-")
    os.environ.update(
        DATABASE_URL=f"{pg}/{name}",
        MODELYARD_DATA_DIR=data,
        SECRET_KEY="bench",
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="mlops_site.settings",
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    try:
        yield
    finally:
        connection.close()
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
        shutil.rmtree(data, ignore_errors=True)


def two_versions(model_name: str = "bench"):
    """Two logistic regressions of `model_name` on one small synthetic dataset (v1 goes to
    production by itself), trained in this process."""
    from engine.search import SearchConfig, run_search
    from registry.services import dataset_generate_synthetic, model_version_register
    from registry.synthetic import SyntheticParams, generate

    params = SyntheticParams(rows=2_000, features=6, seed=3)
    dataset, _ = dataset_generate_synthetic(params=params)
    versions = []
    for seed in (0, 1):
        result = run_search(
            generate(params),
            SearchConfig(target="label", n_trials=1, families=["logreg"], seed=seed),
            columns=[],
        )
        versions.append(
            model_version_register(model_name=model_name, dataset=dataset, result=result)
        )
    return versions
