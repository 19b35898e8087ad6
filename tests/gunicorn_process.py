"""A real gunicorn serving the site against the test database, for tests about several web
processes (metrics summed across workers, a promotion seen by every worker).

It runs from the repository root, so it reads ./gunicorn.conf.py like `make run` does, and
counts a worker as ready when it logs the "Worker N ready" line of that file's
`post_worker_init`. Tests that use it need `django_db(transaction=True)`: the workers only see
committed rows.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import REPO, _child_env, wait_for

LISTENING = re.compile(r"Listening at: (http://\S+)")
WORKER_READY = re.compile(r"Worker (\d+) ready")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (the master stops its workers), then SIGKILL to
    whatever is left, workers of a master that died included."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            pass
    # ProcessLookupError: the group is empty, everything stopped.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


class ServerURL(str):
    """The base URL, carrying the master's pid for tests that signal it."""

    pid: int


@contextmanager
def gunicorn_server(
    workers: int = 2, env_extra: dict[str, str] | None = None, *, boot_timeout: float = 180
) -> Iterator[ServerURL]:
    """Start `gunicorn mlops_site.wsgi:application` with `workers` workers on a free port and
    yield its base URL ("http://127.0.0.1:PORT") once every worker is ready; stop it (SIGTERM
    to its process group, then SIGKILL) on exit. `env_extra` adds to or overrides the child's
    environment (METRICS_TOKEN, ...). Each server gets a PROMETHEUS_MULTIPROC_DIR of its own
    unless `env_extra` names one: two servers sharing one would clear each other's files. Its
    log is printed when the block fails, so pytest shows it."""
    with tempfile.TemporaryDirectory(prefix="modelyard-gunicorn-") as scratch:
        env = _child_env(
            BIND_ADDRESS="127.0.0.1",
            PORT="0",
            WEB_CONCURRENCY=str(workers),
            PROMETHEUS_MULTIPROC_DIR=str(Path(scratch) / "prometheus"),
        )
        env.update(env_extra or {})
        log = Path(scratch) / "gunicorn.log"
        with open(log, "wb") as log_handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "mlops_site.wsgi:application"],
                cwd=REPO,
                env=env,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def output() -> str:
            return log.read_text(errors="replace")

        def booted() -> str | None:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            text = output()
            url = LISTENING.search(text)
            if url and len(set(WORKER_READY.findall(text))) >= workers:
                return url.group(1)
            return None

        try:
            started = time.monotonic()
            url = wait_for(booted, timeout=boot_timeout, interval=0.2, what="gunicorn's workers")
            print(f"gunicorn ready at {url} after {time.monotonic() - started:.1f} s")
            served = ServerURL(url)
            served.pid = process.pid
            yield served
        except BaseException:
            print(f"--- gunicorn log ---\n{output()}")
            raise
        finally:
            _stop(process)
