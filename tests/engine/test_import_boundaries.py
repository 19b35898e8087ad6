"""What each kind of process imports, checked by running one.

A web worker must not pay for PyTorch and Optuna (about 300 MB and seconds of start-up per
gunicorn worker, bench/webproc.py): they belong to training workers and to serving an MLP.
The engine must run without Django. Static import contracts (.importlinter) cannot see this,
since the engine imports torch inside the functions that need it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.artifacts import artifacts_write
from tests.inference.models import feature_rows, trained

REPO = Path(__file__).resolve().parents[2]


def _run(code: str, tmp_path: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
    }
    env.update(
        MODELYARD_DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY="import-boundary-test",
        DJANGO_SETTINGS_MODULE="mlops_site.settings",
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


HEAVY = "json.dumps(sorted(m for m in ('torch', 'optuna', 'django') if m in sys.modules))"


def test_a_web_process_imports_neither_torch_nor_optuna(tmp_path):
    # when a process boots as a gunicorn worker does
    loaded = _run(
        "import json, sys, django\n"
        "django.setup()\n"
        "import mlops_site.urls, mlops_site.wsgi\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        f"print({HEAVY})",
        tmp_path,
    )

    # then
    assert loaded == ["django"]


@pytest.mark.parametrize("family", ["hgb", "logreg"])
def test_loading_and_serving_a_non_mlp_version_imports_neither_torch_nor_optuna(tmp_path, family):
    # given a version's files, written by the registry's writer
    directory = tmp_path / "v1"
    written = artifacts_write(directory, model=trained(family).model, manifest_extra={})
    expected = {name: info["sha256"] for name, info in written["files"].items()}
    rows = feature_rows(3)

    # when a web process loads it, builds its serving form and predicts
    loaded = _run(
        "import json, sys, django\n"
        "django.setup()\n"
        "from engine.artifacts import artifacts_load\n"
        "from inference.pipeline import ServingModel\n"
        f"fitted = artifacts_load({str(directory)!r}, expected={expected!r})\n"
        "serving = ServingModel(fitted, version_id=1, manifest_sha256='x', model_name='m',"
        " version=1, max_rows=100)\n"
        f"scored = serving.score_rows({rows!r})\n"
        "assert len(scored.labels) == 3, scored\n"
        f"print({HEAVY})",
        tmp_path,
    )

    # then
    assert loaded == ["django"]


def test_the_engine_imports_no_django(tmp_path):
    # when every engine module is imported (the MLP's too)
    loaded = _run(
        "import importlib, json, pkgutil, sys\n"
        "import engine\n"
        "for info in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(info.name)\n"
        f"print({HEAVY})",
        tmp_path,
    )

    # then torch is there (engine.families.mlp_torch), Django is not
    assert "django" not in loaded
    assert "torch" in loaded
