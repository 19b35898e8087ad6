"""Modelyard settings: one module, every knob an environment variable with a safe default.

With no environment at all the site runs on SQLite and kombu's filesystem broker, both under
the data directory (``MODELYARD_DATA_DIR``, default ``./var``). ``DATABASE_URL`` switches to
PostgreSQL and ``CELERY_BROKER_URL`` (or ``REDIS_URL``) to Redis.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- Paths -----------------------------------------------------------------------------------

DATA_DIR = Path(env_str("MODELYARD_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATASETS_DIR = DATA_DIR / "datasets"
ARTIFACTS_DIR = DATA_DIR / "artifacts"
# What the platform derives from a version (model cards, reports, exports) lives here, never in
# the version's artifact directory: the loader refuses any file it did not write there.
DERIVED_DIR = DATA_DIR / "derived"
UPLOAD_TMP_DIR = DATA_DIR / "tmp"
# CSVs uploaded to be checked for drift (kept with their check, named by their sha256).
DRIFT_UPLOADS_DIR = DATA_DIR / "drift_uploads"
# Evidently's HTML report of each check that ran on that engine.
DRIFT_REPORTS_DIR = DERIVED_DIR / "drift_reports"
BROKER_DIR = DATA_DIR / "broker"
# Every process (web, worker, beat, tests) may be the first to start on a fresh machine.
for _dir in (
    DATASETS_DIR,
    ARTIFACTS_DIR,
    DERIVED_DIR,
    UPLOAD_TMP_DIR,
    DRIFT_UPLOADS_DIR,
    BROKER_DIR / "queue",
    BROKER_DIR / "control",
):
    _dir.mkdir(parents=True, exist_ok=True)

# --- Core ------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
_secret_file = DATA_DIR / "secret_key"
if not SECRET_KEY and _secret_file.exists():
    SECRET_KEY = _secret_file.read_text().strip()
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "django-insecure-modelyard-development-only"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set the SECRET_KEY environment variable, "
            f"or write one to {_secret_file} (`make run` generates it on first start)."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "django_celery_results",
    "django_prometheus",
    "mlops_site",
    "core",
    "registry",
    "training",
    "inference",
    "monitoring",
    "abtests",
]

# The prediction endpoints take a short chain of their own (inference.serving.middleware); the rest
# goes down this one. django-prometheus's pair wraps everything else, so its latency and status
# counts include the other middlewares (and the responses they short-circuit, like a login
# redirect).
MIDDLEWARE = [
    "inference.serving.middleware.PredictionFastLane",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "mlops_site.urls"
WSGI_APPLICATION = "mlops_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mlops_site.context_processors.navigation",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------

_sqlite_path = DATA_DIR / "modelyard.sqlite3"
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            # A health check is a `SELECT 1` round trip at the start of every request: a third
            # of a single-row prediction's database time. Without it, a connection the server
            # dropped (a database restart) fails one request per process (a 503 JSON answer on
            # the prediction endpoints) and is replaced on the next.
            conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", False),
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_path,
            # WAL lets the web process read while a worker writes; IMMEDIATE transactions take
            # the write lock up front, so two writers queue on `timeout` instead of deadlocking.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file (not :memory:) so a real worker process can share the test database.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- I18N / static ---------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Tests and runserver serve straight from the finders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Uploads ---------------------------------------------------------------------------------

DATASET_MAX_UPLOAD_BYTES = env_int("DATASET_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
DATASET_MIN_ROWS = env_int("DATASET_MIN_ROWS", 50)
DATASET_MAX_CLASSES = env_int("DATASET_MAX_CLASSES", 50)
FILE_UPLOAD_HANDLERS = ["core.uploads.SizeLimitedUploadHandler"]
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_TMP_DIR)
FILE_UPLOAD_MAX_MEMORY_SIZE = 0

# --- REST API --------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with `WWW-Authenticate: Token`.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    # Declared FilterSets (each app's filters.py): documented in the schema, 400 on bad values.
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mlops_site.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Modelyard API",
    "DESCRIPTION": "Datasets, training, registry, serving, drift and A/B tests for tabular "
    "classifiers.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "inference.serving.openapi.add_prediction_paths",
    ],
    # Two models have a `status` field with different choices: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "TrainingJobStatusEnum": "training.models.TrainingJob.Status",
        "BatchScoringJobStatusEnum": "inference.models.BatchScoringJob.Status",
        "ModelStageEnum": "registry.models.ModelVersion.Stage",
    },
}

# --- Celery ----------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL") or "filesystem://"
# Longest allowed task (a training job) plus margin; Redis redelivers unacked messages after
# the visibility timeout, so it must exceed the longest task or work runs twice.
TASK_MAX_SECONDS = env_int("TASK_MAX_SECONDS", 6 * 3600)
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # The filesystem transport polls; 0.1 s starts a task well within a second.
        "polling_interval": env_float("CELERY_FS_POLLING_INTERVAL", 0.1),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": TASK_MAX_SECONDS + 3600}
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_CACHE_BACKEND = "django-cache"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Four queues, consumed by two kinds of worker process (Procfile, docker-compose.yml): the long
# ones (`training`, `batch`: jobs of minutes to hours) and the short ones (`monitoring`: drift
# checks, A/B evaluations, the stale-job sweeps, the worker probe; `default`: the rest). A
# six-hour batch job then never delays a drift check. Every task is routed here by name
# (tests/site/test_queues.py fails on a task left out).
CELERY_TASK_ROUTES = {
    "training.run_training_job": {"queue": "training"},
    "training.run_training_trials": {"queue": "training"},
    "inference.score_batch": {"queue": "batch"},
    "training.sweep_stale_jobs": {"queue": "monitoring"},
    "inference.sweep_stale_batch_jobs": {"queue": "monitoring"},
    "monitoring.answer_worker_probe": {"queue": "monitoring"},
    "monitoring.beat_heartbeat": {"queue": "monitoring"},
    "monitoring.run_drift_check": {"queue": "monitoring"},
    "monitoring.run_scheduled_drift_check": {"queue": "monitoring"},
    "monitoring.sweep_stale_drift_checks": {"queue": "monitoring"},
    "monitoring.settle_retrainings": {"queue": "monitoring"},
    "monitoring.run_scheduled_retraining": {"queue": "monitoring"},
    "abtests.evaluate_due": {"queue": "monitoring"},
    "monitoring.write_performance_snapshots": {"queue": "monitoring"},
    "monitoring.prediction_log_retention": {"queue": "monitoring"},
    "registry.run_hub_export": {"queue": "batch"},
    "registry.sweep_stale_hub_exports": {"queue": "monitoring"},
    "monitoring.record_inference_costs": {"queue": "monitoring"},
    "monitoring.record_storage_costs": {"queue": "default"},
    "monitoring.deliver_webhook": {"queue": "default"},
}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Write each entry's last_run_at as soon as Beat sends it: the status page reads Beat's last
# tick from there.
CELERY_BEAT_SYNC_EVERY = 1
BEAT_HEARTBEAT_SECONDS = env_int("BEAT_HEARTBEAT_SECONDS", 15)
# How often Beat evaluates running A/B tests (and promotions under watch).
ABTEST_EVALUATE_SECONDS = env_int("ABTEST_EVALUATE_SECONDS", 60)
# Performance history: one snapshot per version per interval of this many seconds, written
# once the interval ended PERFORMANCE_SNAPSHOT_LAG_SECONDS ago; after a pause Beat catches up
# at most PERFORMANCE_SNAPSHOT_CATCH_UP intervals.
PERFORMANCE_SNAPSHOT_SECONDS = env_int("PERFORMANCE_SNAPSHOT_SECONDS", 60)
PERFORMANCE_SNAPSHOT_LAG_SECONDS = env_int("PERFORMANCE_SNAPSHOT_LAG_SECONDS", 30)
PERFORMANCE_SNAPSHOT_CATCH_UP = env_int("PERFORMANCE_SNAPSHOT_CATCH_UP", 60)
# Costs: inference CPU is priced per interval of this many seconds (once it has ended, with
# the same lag as the snapshots); storage is measured every COST_STORAGE_SECONDS.
COST_INTERVAL_SECONDS = env_int("COST_INTERVAL_SECONDS", 3600)
COST_STORAGE_SECONDS = env_int("COST_STORAGE_SECONDS", 86400)


def _every(task: str, seconds: float) -> dict:
    """A Beat entry: `task` every `seconds`, dropped if no worker took it before the next
    one is due (but not sooner than 10 s: a busy worker still gets a short interval's)."""
    return {"task": task, "schedule": float(seconds), "options": {"expires": max(seconds, 10)}}


CELERY_BEAT_SCHEDULE = {
    "modelyard-beat-heartbeat": _every("monitoring.beat_heartbeat", BEAT_HEARTBEAT_SECONDS),
    "modelyard-sweep-stale-training-jobs": _every("training.sweep_stale_jobs", 60),
    "modelyard-sweep-stale-batch-jobs": _every("inference.sweep_stale_batch_jobs", 60),
    "modelyard-settle-retrainings": _every("monitoring.settle_retrainings", 60),
    "modelyard-sweep-stale-drift-checks": _every("monitoring.sweep_stale_drift_checks", 60),
    "modelyard-performance-snapshots": _every(
        "monitoring.write_performance_snapshots", PERFORMANCE_SNAPSHOT_SECONDS
    ),
    "modelyard-prediction-log-retention": _every("monitoring.prediction_log_retention", 3600),
    "modelyard-evaluate-ab-tests": _every("abtests.evaluate_due", ABTEST_EVALUATE_SECONDS),
    "modelyard-sweep-stale-hub-exports": _every("registry.sweep_stale_hub_exports", 60),
    "modelyard-record-inference-costs": _every(
        "monitoring.record_inference_costs", min(COST_INTERVAL_SECONDS, 600)
    ),
    "modelyard-record-storage-costs": _every(
        "monitoring.record_storage_costs", COST_STORAGE_SECONDS
    ),
}
DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH = 191

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "modelyard",
    }
}

# --- Logging ---------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "mlops_site.staticfinders.PlotlyFinder",
]

# --- Training and registry -------------------------------------------------------------------

# A model's first successful version goes to production when it has none (a system transition).
REGISTRY_AUTO_PROMOTE_FIRST = env_bool("REGISTRY_AUTO_PROMOTE_FIRST", True)
# Per kind of job (core.jobs): RUNNING jobs whose heartbeat is older than
# <KIND>_HEARTBEAT_TIMEOUT_SECONDS are failed ("worker lost") by a Beat sweep; QUEUED jobs no
# worker picked up within <KIND>_REQUEUE_AFTER_SECONDS are enqueued again.
TRAINING_HEARTBEAT_TIMEOUT_SECONDS = env_int("TRAINING_HEARTBEAT_TIMEOUT_SECONDS", 300)
TRAINING_REQUEUE_AFTER_SECONDS = env_int("TRAINING_REQUEUE_AFTER_SECONDS", 600)
TRAINING_DEFAULT_TRIALS = env_int("TRAINING_DEFAULT_TRIALS", 20)
TRAINING_MAX_TRIALS = env_int("TRAINING_MAX_TRIALS", 500)
TRAINING_MAX_PARALLELISM = env_int("TRAINING_MAX_PARALLELISM", 8)

# --- Serving ---------------------------------------------------------------------------------

# Rows per prediction request (REST and V2) and the largest request body, in bytes.
PREDICT_MAX_ROWS = env_int("PREDICT_MAX_ROWS", 10_000)
PREDICT_MAX_BODY_BYTES = env_int("PREDICT_MAX_BODY_BYTES", 32 * 1024 * 1024)
# Loaded versions each web process keeps (LRU), and how long it trusts which version serves a
# model before asking the database again: a promotion reaches every process within this.
INFERENCE_CACHE_SIZE = env_int("INFERENCE_CACHE_SIZE", 8)
INFERENCE_RESOLVE_TTL_SECONDS = env_float("INFERENCE_RESOLVE_TTL_SECONDS", 0.5)
# PostgreSQL only: prediction-log inserts commit without waiting for the WAL flush (see
# inference.services.prediction_logs_write for what that trades).
PREDICTION_LOG_ASYNC_COMMIT = env_bool("PREDICTION_LOG_ASYNC_COMMIT", True)
# PostgreSQL only: the prediction endpoints hand their log rows to a writer thread per process
# that writes them every PREDICTION_LOG_FLUSH_SECONDS in one COPY (inference.serving.logwriter says
# what that trades); past PREDICTION_LOG_BUFFER_ROWS pending rows requests write themselves.
PREDICTION_LOG_BUFFERED = env_bool("PREDICTION_LOG_BUFFERED", True)
PREDICTION_LOG_FLUSH_SECONDS = env_float("PREDICTION_LOG_FLUSH_SECONDS", 0.1)
PREDICTION_LOG_BUFFER_ROWS = env_int("PREDICTION_LOG_BUFFER_ROWS", 100_000)
# Prediction endpoints remember a valid API token this long per process (a revoked token can
# keep predicting for up to this many seconds); 0 looks the token up on every request.
TOKEN_AUTH_CACHE_SECONDS = env_float("TOKEN_AUTH_CACHE_SECONDS", 10.0)
FEEDBACK_MAX_ITEMS = env_int("FEEDBACK_MAX_ITEMS", 10_000)
# Rows per explain request (SHAP costs more than a prediction; see bench/explain.py).
EXPLAIN_MAX_ROWS = env_int("EXPLAIN_MAX_ROWS", 1_000)
# Batch scoring: the largest CSV accepted, and rows scored per chunk (progress is per chunk).
BATCH_SCORING_MAX_BYTES = env_int("BATCH_SCORING_MAX_BYTES", 200 * 1024 * 1024)
BATCH_SCORING_CHUNK_ROWS = env_int("BATCH_SCORING_CHUNK_ROWS", 5_000)
# The batch jobs' stale sweep (core.jobs): a job heartbeats once per chunk.
BATCH_HEARTBEAT_TIMEOUT_SECONDS = env_int("BATCH_HEARTBEAT_TIMEOUT_SECONDS", 300)
BATCH_REQUEUE_AFTER_SECONDS = env_int("BATCH_REQUEUE_AFTER_SECONDS", 600)

# --- Drift -----------------------------------------------------------------------------------

# The largest CSV a person may upload to check against a version's reference.
DRIFT_UPLOAD_MAX_BYTES = env_int("DRIFT_UPLOAD_MAX_BYTES", 100 * 1024 * 1024)
# A "last T hours" window reads at most this many of the newest predictions.
DRIFT_WINDOW_MAX_ROWS = env_int("DRIFT_WINDOW_MAX_ROWS", 200_000)
# The drift checks' stale sweep (core.jobs): a check writes no heartbeat while it compares,
# so the timeout bounds a whole check.
DRIFT_HEARTBEAT_TIMEOUT_SECONDS = env_int("DRIFT_HEARTBEAT_TIMEOUT_SECONDS", 900)
DRIFT_REQUEUE_AFTER_SECONDS = env_int("DRIFT_REQUEUE_AFTER_SECONDS", 300)
# Retraining: trials of the challenger's search, and the newest share of the labelled
# predictions held out to compare champion and challenger on.
RETRAIN_TRIALS = env_int("RETRAIN_TRIALS", 10)
RETRAIN_HOLDOUT_SHARE = env_float("RETRAIN_HOLDOUT_SHARE", 0.3)

# --- A/B tests -------------------------------------------------------------------------------

# Each web process re-reads which tests run this often; a test started or stopped in
# another process takes effect there within it.
ABTEST_ROUTER_TTL_SECONDS = env_float("ABTEST_ROUTER_TTL_SECONDS", 2.0)
# The latency guardrail's p95 is over each arm's newest rows, this many.
ABTEST_LATENCY_WINDOW_ROWS = env_int("ABTEST_LATENCY_WINDOW_ROWS", 5000)

# --- Log retention and webhooks ---------------------------------------------------------------

# Prediction-log rows older than this are deleted hourly (0 keeps them all), in batches of
# PREDICTION_LOG_RETENTION_BATCH_ROWS, except rows a running A/B test or a drift window needs.
PREDICTION_LOG_RETENTION_DAYS = env_int("PREDICTION_LOG_RETENTION_DAYS", 90)
PREDICTION_LOG_RETENTION_BATCH_ROWS = env_int("PREDICTION_LOG_RETENTION_BATCH_ROWS", 10_000)
# Webhooks: a delivery waits this long for an answer, and a failed one is retried after
# BASE x 2^(attempt - 1) seconds, WEBHOOK_MAX_ATTEMPTS times in all.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 10.0)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 5)

# --- Hugging Face Hub -------------------------------------------------------------------------

# The token exports use when the requesting user stored none, and the Hub they go to.
HF_TOKEN = env_str("HF_TOKEN")
HF_ENDPOINT = env_str("HF_ENDPOINT", "https://huggingface.co")
# The exports' stale sweep (core.jobs): an export writes progress between its steps.
HUB_EXPORT_HEARTBEAT_TIMEOUT_SECONDS = env_int("HUB_EXPORT_HEARTBEAT_TIMEOUT_SECONDS", 1800)
HUB_EXPORT_REQUEUE_AFTER_SECONDS = env_int("HUB_EXPORT_REQUEUE_AFTER_SECONDS", 600)

# --- Costs -----------------------------------------------------------------------------------

# Prices when no CostRate row (admin) is in effect: a CPU-hour (a vCPU of an on-demand
# general-purpose cloud instance is about 0.04-0.05 USD) and a GB-month of disk (block storage
# is about 0.08-0.10 USD), in COST_CURRENCY.
COST_CPU_HOUR = env_str("COST_CPU_HOUR", "0.048")
COST_GB_MONTH = env_str("COST_GB_MONTH", "0.10")
COST_CURRENCY = env_str("COST_CURRENCY", "USD")
# Measure each prediction request's CPU time (two reads of the thread's CPU clock; the serving
# benchmark compares on and off).
COST_INFERENCE_CPU = env_bool("COST_INFERENCE_CPU", True)

# --- Metrics ---------------------------------------------------------------------------------

# /metrics is open (Prometheus cannot log in) unless this is set; then a scrape must send
# `Authorization: Bearer <METRICS_TOKEN>`. Under gunicorn the counters of all workers are summed
# through PROMETHEUS_MULTIPROC_DIR, which gunicorn.conf.py sets (prometheus_client reads it).
METRICS_TOKEN = env_str("METRICS_TOKEN")
