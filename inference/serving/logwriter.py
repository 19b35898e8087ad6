"""The prediction log's buffered writer: one background thread per web process.

A prediction request formats its log rows (COPY text, `inference.services.prediction_log`)
and hands them to `log_writer`; the thread writes everything handed to it during the last
PREDICTION_LOG_FLUSH_SECONDS with one COPY over a connection of its own. Measured on the
serving benchmark, a COPY costs PostgreSQL about 170 µs before its first row and about 10 µs
a row after, so one statement per request spent more on the statement than on a single row;
batched, the requests also stop waiting for the database.

What it trades, and how that is bounded:

- A row reaches the table up to PREDICTION_LOG_FLUSH_SECONDS (default 0.1) after its
  response. Feedback for a prediction id newer than a few seconds that is not found yet waits
  for the writers (`inference.services.feedback`), so a client that labels at once still
  finds its prediction. Pages and batch jobs write synchronously.
- A graceful shutdown loses nothing: gunicorn's `worker_exit` hook and `atexit` flush and
  join the thread. A killed process (SIGKILL, out of memory) loses the rows of its last
  flush interval.
- The database unreachable: the thread retries with backoff and keeps the rows; past
  PREDICTION_LOG_BUFFER_ROWS pending rows, `submit` refuses and requests write
  synchronously, which answers 503 while the database is down.
- Its own CPU time per flush is charged to the versions whose rows it wrote, with the next
  flush (`inference.serving.tally.WriteCpu`).
- A batch the database refuses (a value it cannot store) is retried request by request, and
  only the refused request's rows are dropped, logged and counted
  (`modelyard_prediction_log_dropped_rows_total`).

The connection turns `synchronous_commit` off for its session when
PREDICTION_LOG_ASYNC_COMMIT is set: it writes nothing but the log.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connections
from prometheus_client import Counter

from inference.serving.tally import write_cpu

logger = logging.getLogger(__name__)

DROPPED_ROWS = Counter(
    "modelyard_prediction_log_dropped_rows_total",
    "Prediction-log rows the database refused (or that could not be written before the "
    "process exited), so never logged.",
    ["reason"],
)

# Past this many pending rows a flush starts before the interval is up.
FLUSH_EARLY_ROWS = 20_000


class BufferedLogWriter:
    def __init__(self) -> None:
        self._reset()
        atexit.register(self.close)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._chunks: list[tuple[bytes, int, list]] = []
        self._pending = 0  # rows handed over and not yet written (including a running flush)
        self._thread: threading.Thread | None = None
        self._closing = False
        self._flush_now = False
        self._pid = os.getpid()
        self._session_ready: object | None = None

    # -- request side ------------------------------------------------------------------------

    def submit(self, data: bytes, rows: int, tallies=()) -> bool:
        """Queue formatted rows (and the A/B tally deltas they add, written in the same
        transaction); False when the buffer is full or closed (write them yourself)."""
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        with self._cond:
            if self._closing or self._pending + rows > settings.PREDICTION_LOG_BUFFER_ROWS:
                return False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="prediction-log-writer", daemon=True
                )
                self._thread.start()
            self._chunks.append((data, rows, list(tallies)))
            self._pending += rows
            if self._pending >= FLUSH_EARLY_ROWS:
                self._cond.notify()
        return True

    @property
    def pending_rows(self) -> int:
        return self._pending

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row handed over so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush_now = True
            self._cond.notify_all()
            while self._pending and self._thread is not None and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return not self._pending

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the thread (gunicorn's worker_exit, atexit)."""
        if self._pid != os.getpid():
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.error(
                    "prediction log: %d rows still unwritten after %.0f s at exit",
                    self._pending,
                    timeout,
                )

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    deadline = time.monotonic() + settings.PREDICTION_LOG_FLUSH_SECONDS
                    while (
                        not self._closing
                        and not self._flush_now
                        and self._pending < FLUSH_EARLY_ROWS
                    ):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                    chunks, self._chunks = self._chunks, []
                    self._flush_now = False
                    closing = self._closing
                if chunks:
                    carried = write_cpu.drain()  # the last flush's own CPU time
                    if carried:
                        chunks.append((b"", 0, carried))
                    writing = time.thread_time()
                    try:
                        self._write(chunks, closing=closing)
                    except Exception:  # a bug must not stop the thread, nor lose the count
                        rows = sum(rows for _, rows, _ in chunks)
                        logger.exception("prediction log: dropped %d rows", rows)
                        DROPPED_ROWS.labels("error").inc(rows)
                    write_cpu.charge(
                        time.thread_time() - writing, (d for _, _, ds in chunks for d in ds)
                    )
                    with self._cond:
                        self._pending -= sum(rows for _, rows, _ in chunks)
                        self._cond.notify_all()
                if closing and not self._chunks:
                    return
        finally:
            connections["default"].close()

    def _write(self, chunks: list[tuple[bytes, int, list]], *, closing: bool) -> None:
        from inference.services.prediction_log import copy_rows

        db = connections["default"]
        backoff = 0.1
        give_up = time.monotonic() + 5.0 if closing else None
        while True:
            try:
                self._prepare_session(db)
                copy_rows(
                    db,
                    b"".join(data for data, _, _ in chunks),
                    tallies=[delta for _, _, deltas in chunks for delta in deltas],
                    async_commit=False,
                )
                return
            except (DataError, IntegrityError) as exc:
                if len(chunks) > 1:
                    for chunk in chunks:  # find the request whose rows are refused
                        self._write([chunk], closing=closing)
                    return
                logger.error(
                    "prediction log: dropped %d rows the database refused: %s", chunks[0][1], exc
                )
                DROPPED_ROWS.labels("refused").inc(chunks[0][1])
                return
            except DatabaseError as exc:
                db.close()
                self._session_ready = None
                if give_up is not None and time.monotonic() > give_up:
                    rows = sum(rows for _, rows, _ in chunks)
                    logger.error("prediction log: lost %d rows at exit: %s", rows, exc)
                    DROPPED_ROWS.labels("unavailable_at_exit").inc(rows)
                    return
                logger.warning("prediction log: database unavailable, retrying: %s", exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _prepare_session(self, db) -> None:
        db.ensure_connection()
        if self._session_ready is db.connection:
            return
        if settings.PREDICTION_LOG_ASYNC_COMMIT:
            with db.wrap_database_errors, db.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
        self._session_ready = db.connection


log_writer = BufferedLogWriter()
