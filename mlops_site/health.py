"""Readiness probes for the database and the broker, each reporting what failed."""

from django.conf import settings
from django.db import connections
from kombu import Connection


def database_check() -> tuple[bool, str]:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"; the text says which
        return False, f"{type(exc).__name__}: {exc}"
    return True, connections["default"].vendor


def broker_check(timeout: float = 2.0) -> tuple[bool, str]:
    # The settings' value, which is what the Celery app was configured from.
    url = settings.CELERY_BROKER_URL
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    try:
        with Connection(url, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            transport = conn.transport_cls
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, str(transport)
