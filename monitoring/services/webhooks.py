"""Events and webhooks.

`event_record` (connected to core.events.event_happened) writes the Event row and one
WebhookDelivery per active webhook that wants its kind, each sent by a worker on commit.

A delivery is a POST of the event's JSON with these headers, a scheme like Stripe's:

- `X-Modelyard-Event`: the kind; `X-Modelyard-Delivery`: the delivery id;
- `X-Modelyard-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed
  with the webhook's secret, so a receiver can check both origin and freshness
  (`signature_verify` is the reference).

A 2xx answer delivers it; anything else, a time-out (WEBHOOK_TIMEOUT_SECONDS) or a refused
connection is retried after WEBHOOK_RETRY_BASE_SECONDS × 2^(attempt − 1), up to
WEBHOOK_MAX_ATTEMPTS; every attempt's code, latency and error is on the delivery row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import InvalidInput
from core.events import KINDS
from monitoring.models import Event, Webhook, WebhookDelivery

logger = logging.getLogger(__name__)


def event_record(*, kind: str, summary: str, model_name="", version=None, data=None) -> Event:
    event = Event.objects.create(
        kind=kind, model_name=model_name, version=version, summary=summary, data=data or {}
    )
    hooks = [w for w in Webhook.objects.filter(active=True) if w.wants(kind)]
    if hooks:
        deliveries = WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(webhook=w, event=event) for w in hooks]
        )
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(ids))
    return event


def _enqueue(ids: list[int], countdown: float = 0) -> None:
    from monitoring.tasks import deliver_webhook_task

    for pk in ids:
        deliver_webhook_task.apply_async((pk,), countdown=countdown)


def check_kinds(kinds: list[str]) -> list[str]:
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InvalidInput(
            f"Unknown event kind(s): {', '.join(unknown)}; choose from {', '.join(KINDS)}.",
            field="kinds",
        )
    return list(kinds)


def _check_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("A webhook URL must be an http:// or https:// URL.", field="url")
    return url


def webhook_create(*, url: str, kinds: list[str] | None = None, description="", actor=None):
    """A new webhook and its secret (returned here once; never shown again)."""
    secret = secrets.token_hex(32)
    webhook = Webhook.objects.create(
        url=_check_url(url),
        kinds=check_kinds(kinds or []),
        secret=secret,
        description=description,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    return webhook, secret


def webhook_update(*, webhook: Webhook, **changes) -> Webhook:
    """Change a webhook's url, kinds, description or active flag (its secret stays)."""
    if "url" in changes:
        changes["url"] = _check_url(changes["url"])
    if "kinds" in changes:
        changes["kinds"] = check_kinds(changes["kinds"])
    for name, value in changes.items():
        setattr(webhook, name, value)
    webhook.save(update_fields=list(changes) or None)
    return webhook


def webhook_send_test(*, webhook: Webhook) -> WebhookDelivery:
    """Deliver a made-up event to one webhook (the page's "send a test")."""
    event = Event.objects.create(
        kind="webhook.test", summary=f"A test delivery to {webhook.url}", data={"test": True}
    )
    delivery = WebhookDelivery.objects.create(webhook=webhook, event=event)
    transaction.on_commit(lambda: _enqueue([delivery.pk]))
    return delivery


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def signature_verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time, and refuse a
    timestamp older than `tolerance_s` (a replay)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def webhook_delivery_attempt(*, delivery_id: int) -> float | None:
    """One attempt; returns the seconds to wait before the next one, or None when done."""
    delivery = (
        WebhookDelivery.objects.select_related("webhook", "event").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status in (
        WebhookDelivery.Status.DELIVERED,
        WebhookDelivery.Status.FAILED,
    ):
        return None
    body = json.dumps(delivery.event.payload(), separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Modelyard-Webhook/1",
            "X-Modelyard-Event": delivery.event.kind,
            "X-Modelyard-Delivery": str(delivery.pk),
            "X-Modelyard-Signature": sign(delivery.webhook.secret, timestamp, body),
        },
    )
    started = time.perf_counter()
    code, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as answer:
            code = answer.status
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"[:500]
    delivery.latency_ms = (time.perf_counter() - started) * 1000.0
    delivery.attempts += 1
    delivery.response_code = code
    delivery.error = error
    delivery.last_attempt_at = timezone.now()
    wait = None
    if code is not None and 200 <= code < 300:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.next_attempt_at = None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
        logger.warning("webhook delivery %s gave up: %s", delivery.pk, error)
    else:
        wait = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (delivery.attempts - 1)
        delivery.status = WebhookDelivery.Status.RETRYING
        delivery.next_attempt_at = delivery.last_attempt_at + timedelta(seconds=wait)
    delivery.save()
    return wait
