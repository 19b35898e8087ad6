"""Settings defaults, the secret-key rule, and the commands `make run` calls."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from registry.models import Dataset

REPO = Path(__file__).resolve().parents[2]
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
}


def run_settings(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=REPO,
        env={
            **CLEAN_ENV,
            "MODELYARD_DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "mlops_site.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_debug_a_secret_key_is_required(tmp_path):
    result = run_settings("print('started')", tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_secret_key_is_read_from_the_data_directory(tmp_path):
    (tmp_path / "secret_key").write_text("from-the-file-0123456789\n")

    result = run_settings("from django.conf import settings; print(settings.SECRET_KEY)", tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from-the-file-0123456789"


def test_defaults_are_sqlite_and_the_filesystem_broker_in_the_data_directory(tmp_path):
    result = run_settings(
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME']); "
        "opts = settings.CELERY_BROKER_TRANSPORT_OPTIONS; "
        "print(settings.CELERY_BROKER_URL, opts['control_folder']); "
        "print(settings.DEBUG)",
        tmp_path,
        SECRET_KEY="x" * 50,
    )

    assert result.returncode == 0, result.stderr
    db_line, broker_line, debug_line = result.stdout.strip().splitlines()
    assert db_line == f"django.db.backends.sqlite3 {tmp_path / 'modelyard.sqlite3'}"
    assert broker_line == f"filesystem:// {tmp_path / 'broker' / 'control'}"
    assert debug_line == "False"


def test_database_and_broker_urls_switch_to_postgres_and_redis(tmp_path):
    result = run_settings(
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME']); "
        "opts = settings.CELERY_BROKER_TRANSPORT_OPTIONS; "
        "print(settings.CELERY_BROKER_URL, opts['visibility_timeout'] > settings.TASK_MAX_SECONDS)",
        tmp_path,
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://u:p@db.example:5432/modelyard",
        CELERY_BROKER_URL="redis://cache.example:6379/0",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "django.db.backends.postgresql modelyard",
        "redis://cache.example:6379/0 True",
    ]


@pytest.mark.django_db
def test_ensure_admin_creates_one_admin_with_the_given_password(monkeypatch, capsys):
    # given a password in the environment
    monkeypatch.setenv("MODELYARD_ADMIN_PASSWORD", "correct-horse-battery")

    # when the command runs twice
    call_command("ensure_admin")
    call_command("ensure_admin")

    # then exactly one superuser exists and the password works
    admins = get_user_model().objects.filter(is_superuser=True)
    assert admins.count() == 1
    assert admins.get().check_password("correct-horse-battery")
    assert "exists already" in capsys.readouterr().out


@pytest.mark.django_db
def test_ensure_admin_generates_and_prints_a_password(monkeypatch, capsys):
    monkeypatch.delenv("MODELYARD_ADMIN_PASSWORD", raising=False)

    call_command("ensure_admin")

    out = capsys.readouterr().out
    password = out.split("with password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_load_builtin_datasets_is_idempotent(capsys):
    call_command("load_builtin_datasets")
    call_command("load_builtin_datasets")

    names = sorted(Dataset.objects.values_list("name", flat=True))
    assert names == [
        "Synthetic drifted (seed 7)",
        "Synthetic reference (seed 7)",
        "UCI Adult (census income)",
    ]
    adult = Dataset.objects.get(origin="builtin")
    assert adult.row_count == 48842
    assert adult.column_names == [
        "age",
        "workclass",
        "fnlwgt",
        "education",
        "education_num",
        "marital_status",
        "occupation",
        "relationship",
        "race",
        "sex",
        "capital_gain",
        "capital_loss",
        "hours_per_week",
        "native_country",
        "income",
    ]
    assert adult.column("workclass")["missing_count"] == 2799
    assert "already present" in capsys.readouterr().out


@pytest.mark.django_db
def test_ingest_command_reports_a_bad_file(tmp_path):
    from django.core.management.base import CommandError

    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n")

    with pytest.raises(CommandError, match="Too few rows"):
        call_command("ingest_dataset", str(bad))
    assert not Dataset.objects.exists()


@pytest.mark.django_db
def test_setup_platform_runs_every_first_start_step_once(monkeypatch, capsys):
    monkeypatch.setenv("MODELYARD_ADMIN_PASSWORD", "another-long-password")

    call_command("setup_platform")
    call_command("setup_platform")

    out = capsys.readouterr().out
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert Dataset.objects.count() == 3
    assert out.count("Created admin account") == 1
    assert "already present" in out
