import pytest

pytestmark = pytest.mark.django_db


def test_healthz_needs_no_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_broker(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]


def test_readyz_names_the_broker_when_it_is_unreachable(client, settings):
    # given a broker address where nothing listens
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    # when readiness is asked
    response = client.get("/readyz")

    # then 503 says the broker failed and the database did not
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert (
        "Connection" in body["checks"]["broker"]["detail"]
        or "refused" in body["checks"]["broker"]["detail"]
    )


def test_api_errors_are_json(api_client):
    not_allowed = api_client.put("/api/v1/datasets/")
    missing = api_client.get("/api/v1/datasets/12345/")

    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"] == "method_not_allowed"
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_malformed_json_answers_400(api_client):
    response = api_client.generic(
        "POST", "/api/v1/datasets/synthetic/", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
