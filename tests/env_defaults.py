"""Loaded by pytest before Django reads its settings (see `addopts` in pyproject.toml).

Tests never touch a developer's data directory: each run gets a fresh temporary one, holding
the SQLite test database, the filesystem broker's folders, datasets and artifacts. The database
and broker still follow DATABASE_URL / CELERY_BROKER_URL when those are set.
"""

import atexit
import os
import shutil
import tempfile

_data_dir = tempfile.mkdtemp(prefix="modelyard-test-")
os.environ["MODELYARD_DATA_DIR"] = _data_dir
os.environ.setdefault("SECRET_KEY", "insecure-key-for-the-test-suite-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_site.settings")
atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
