"""Events are recorded where things happen, and webhooks deliver them: signed (HMAC-SHA256
over timestamp and body), retried with backoff on failure, given up after the limit, every
attempt in the delivery log. The receiver is a real HTTP server the test starts."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import InvalidInput
from monitoring.models import Event, WebhookDelivery
from monitoring.services import signature_verify, webhook_create, webhook_delivery_attempt
from tests.inference.models import register

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server answering the codes queued in `answers` (then 200), recording
    every request's headers and body."""

    def __init__(self):
        self.answers: list[int] = []
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_a_promotion_is_an_event_delivered_signed(receiver, django_capture_on_commit_callbacks):
    # given a webhook for promotions only
    webhook, secret = webhook_create(url=receiver.url, kinds=["version.promoted"])

    # when a model's first version is registered and promoted (its events on commit)
    with django_capture_on_commit_callbacks(execute=True):
        register("logreg")  # its first version is promoted on commit

    # then both events are in the feed, and one delivery was made for the promotion
    kinds = list(Event.objects.order_by("id").values_list("kind", flat=True))
    assert kinds[:2] == ["version.registered", "version.promoted"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.event.kind == "version.promoted"
    webhook_delivery_attempt(delivery_id=delivery.pk)

    # and it arrived with a signature the receiver can verify, the body being the event
    headers, body = receiver.received[0]
    assert headers["X-Modelyard-Event"] == "version.promoted"
    assert signature_verify(secret, headers["X-Modelyard-Signature"], body)
    assert not signature_verify("another secret", headers["X-Modelyard-Signature"], body)
    assert not signature_verify(secret, headers["X-Modelyard-Signature"], body + b" ")
    payload = json.loads(body)
    assert (payload["kind"], payload["model"], payload["version"]) == (
        "version.promoted",
        "adult",
        1,
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("delivered", 200, 1)
    assert delivery.latency_ms > 0


def test_failures_are_retried_with_backoff_then_given_up(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    webhook, _ = webhook_create(url=receiver.url)
    event = Event.objects.create(kind="job.failed", summary="x")
    delivery = WebhookDelivery.objects.create(webhook=webhook, event=event)

    # a 500 then a 200: retried after 10 s, then delivered
    receiver.answers = [500]
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 10
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.error) == (
        "retrying",
        500,
        "HTTP 500",
    )
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)

    # always 503: 10 s, 20 s, then given up after three attempts
    again = WebhookDelivery.objects.create(webhook=webhook, event=event)
    receiver.answers = [503, 503, 503]
    waits = [webhook_delivery_attempt(delivery_id=again.pk) for _ in range(3)]
    again.refresh_from_db()
    assert waits == [10, 20, None]
    assert (again.status, again.attempts, again.response_code) == ("failed", 3, 503)
    # and nothing more is sent for it
    assert webhook_delivery_attempt(delivery_id=again.pk) is None
    assert len(receiver.received) == 5


def test_an_unreachable_receiver_is_an_error_not_a_crash(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    webhook, _ = webhook_create(url="http://127.0.0.1:9/nothing")
    event = Event.objects.create(kind="job.failed", summary="x")
    delivery = WebhookDelivery.objects.create(webhook=webhook, event=event)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is not None
    delivery.refresh_from_db()
    assert delivery.status == "retrying" and delivery.response_code is None
    assert "Connection refused" in delivery.error or "URLError" in delivery.error


@pytest.mark.parametrize(
    ("url", "kinds"),
    [("ftp://example.com/x", []), ("file:///etc/passwd", []), ("http://x/", ["nope"])],
)
def test_bad_webhooks_are_refused(url, kinds):
    with pytest.raises(InvalidInput):
        webhook_create(url=url, kinds=kinds)


def test_events_come_from_where_things_happen(django_capture_on_commit_callbacks):
    # given a model whose v2 is promoted by hand, and a training job that fails
    from registry.models import Dataset
    from registry.services import model_version_promote
    from training.models import TrainingJob
    from training.services import TRAINING_JOBS

    with django_capture_on_commit_callbacks(execute=True):
        register("logreg")
    with django_capture_on_commit_callbacks(execute=True):
        v2 = register("hgb")
    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version=v2, reason="better")
    job = TrainingJob.objects.create(
        dataset=Dataset.objects.first(), model_name="adult", n_trials=1, status="running"
    )
    with django_capture_on_commit_callbacks(execute=True):
        TRAINING_JOBS.finish(job_id=job.pk, status="failed", reason="out of memory")

    # then the feed has each step, from the app where it happened
    kinds = list(Event.objects.order_by("id").values_list("kind", "version"))
    assert kinds == [
        ("version.registered", 1),
        ("version.promoted", 1),
        ("version.registered", 2),
        ("version.archived", 1),
        ("version.promoted", 2),
        ("job.failed", None),
    ]
    failed = Event.objects.get(kind="job.failed")
    assert failed.summary == f"Training job {job.pk} failed: out of memory"
    assert failed.data == {"kind": "training job", "id": job.pk}


def test_the_api_and_pages(staff_api_client, api_client, staff_client, receiver):
    # staff create a webhook over the API and get its secret once
    created = staff_api_client.post(
        "/api/v1/webhooks/", {"url": receiver.url, "kinds": ["drift.detected"]}, format="json"
    )
    assert created.status_code == 201, created.content
    hook = created.json()
    assert len(hook["secret"]) == 64
    shown = staff_api_client.get(f"/api/v1/webhooks/{hook['id']}/").json()
    assert "secret" not in shown
    # others may not
    assert api_client.get("/api/v1/webhooks/").status_code == 403
    # a bad URL or kind is a 400 naming it
    bad = staff_api_client.post("/api/v1/webhooks/", {"url": "ftp://x/"}, format="json")
    assert bad.status_code == 400 and "url" in bad.content.decode()
    bad = staff_api_client.patch(
        f"/api/v1/webhooks/{hook['id']}/", {"kinds": ["nope"]}, format="json"
    )
    assert bad.status_code == 400 and "kinds" in bad.content.decode()
    paused = staff_api_client.patch(
        f"/api/v1/webhooks/{hook['id']}/", {"active": False}, format="json"
    )
    assert paused.json()["active"] is False
    # a test delivery is queued and logged
    queued = staff_api_client.post(f"/api/v1/webhooks/{hook['id']}/test/")
    assert queued.status_code == 202
    webhook_delivery_attempt(delivery_id=queued.json()["id"])
    log = staff_api_client.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").json()
    assert log[0]["status"] == "delivered" and log[0]["response_code"] == 200
    # the events API lists and filters
    assert api_client.get("/api/v1/events/", {"kind": "webhook.test"}).json()["count"] == 1
    assert api_client.get("/api/v1/events/", {"since": "soon"}).status_code == 400
    # the page shows the webhook and its delivery; creating one there shows the secret once
    page = staff_client.get("/monitoring/webhooks/").content.decode()
    assert receiver.url in page and "delivered" in page
    made = staff_client.post(
        "/monitoring/webhooks/", {"url": receiver.url + "2", "kinds": ["job.failed"]}
    ).content.decode()
    assert 'id="new-secret"' in made
    assert 'id="new-secret"' not in staff_client.get("/monitoring/webhooks/").content.decode()
    refused = staff_client.post("/monitoring/webhooks/", {"url": "javascript:alert(1)"})
    assert refused.status_code == 400
    # and the dashboard carries the feed
    assert 'id="event-feed"' in staff_client.get("/").content.decode()
