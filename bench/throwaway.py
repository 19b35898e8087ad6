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
