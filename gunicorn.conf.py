"""gunicorn settings for the web process; gunicorn loads ./gunicorn.conf.py from its working
directory (the repository root under `make run`, /app in the image).

Every value comes from the environment. Command-line flags and GUNICORN_CMD_ARGS still override
anything here (e.g. the containers pass `--bind 0.0.0.0:8000`).

Prometheus: several workers each count their own requests, so prometheus_client runs in
multiprocess mode: every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and
/metrics sums the files of all workers, whichever worker answers the scrape.
"""

import os
import time
from pathlib import Path

_DATA_DIR = Path(os.environ.get("MODELYARD_DATA_DIR") or Path(__file__).parent / "var")

# prometheus_client picks file-backed values when it is first imported, so the variable must be
# in the environment before any process imports it. This file runs in the master before the
# workers are forked and load Django, and they inherit the master's environment.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(
    _DATA_DIR / "prometheus"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR

bind = [f"{os.environ.get('BIND_ADDRESS') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"]
# WEB_CONCURRENCY is gunicorn's own variable too; read here so this file is the one default.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "sync"
# More than one thread turns the sync class into gthread (gunicorn does that by itself).
threads = int(os.environ.get("GUNICORN_THREADS") or 1)

# Dataset uploads of up to 200 MB are read, checked and profiled inside the request.
timeout = 120
# In-flight requests get this long to finish on SIGTERM (compose's stop_grace_period is above it).
graceful_timeout = 30
# Idle keep-alive connections (gthread only; sync workers close after every response). Above
# the usual 2 s so a client sending predictions in a loop reuses its connection.
keepalive = 5
# The workers' heartbeat files: on a container's overlay filesystem their updates can block a
# worker for seconds and get it killed; /dev/shm is memory.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No max_requests: a recycled worker loses its model cache (the next prediction of each model
# loads it again) and its URLconf import (seconds). Should a leak ever need it, pass
# GUNICORN_CMD_ARGS="--max-requests N --max-requests-jitter M".

accesslog = "-"
# gunicorn's default format plus the time taken, in milliseconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'

# gunicorn's control socket defaults to one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn),
# and a second instance (the tests, a second checkout) unlinks the first's. Nothing uses it.
control_socket_disable = True


def on_starting(server):
    """Empty the metrics directory: files of a previous run would be summed into this one's."""
    directory = Path(PROMETHEUS_MULTIPROC_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    # The files, not the directory: in a container it may be a tmpfs mount point.
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)


def post_worker_init(worker):
    """Import the URLconf, and with it the serving stack (torch, scikit-learn), while the worker
    boots: lazily, each worker's first request would wait for it (about 10 s)."""
    from importlib import import_module

    from django.conf import settings

    started = time.monotonic()
    import_module(settings.ROOT_URLCONF)
    worker.log.info("Worker %s ready (URLconf in %.1f s)", worker.pid, time.monotonic() - started)


def worker_exit(server, worker):
    """Runs in the worker as it exits: write the prediction-log rows still buffered
    (inference.serving.logwriter), so a graceful shutdown loses none."""
    from inference.serving.logwriter import log_writer

    log_writer.close()


def child_exit(server, worker):
    """A dead worker's live gauges must stop counting; its counters are kept (they are sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
