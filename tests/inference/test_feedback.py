import uuid

import pytest

from inference.models import PredictionLog
from inference.selectors import live_accuracy_get
from inference.serving.cache import model_cache
from tests.inference.models import feature_rows, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(api_client):
    """Four logged predictions of a production model: their ids and predicted labels."""
    model_cache.clear()
    register("logreg")
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(4)}, format="json"
    )
    assert response.status_code == 200
    return [(p["id"], p["label"]) for p in response.json()["predictions"]]


def _other(label: str) -> str:
    return ">50K" if label == "<=50K" else "<=50K"


def test_feedback_records_the_label_and_live_accuracy(api_client, served):
    (right_id, right_label), (wrong_id, wrong_label) = served[:2]

    first = api_client.post(
        f"/api/v1/predictions/{right_id}/feedback", {"label": right_label}, format="json"
    )
    second = api_client.post(
        f"/api/v1/predictions/{wrong_id}/feedback", {"label": _other(wrong_label)}, format="json"
    )

    assert first.status_code == 201, first.content
    assert first.json() == {"prediction_id": right_id, "status": "recorded", "correct": True}
    assert second.json()["correct"] is False
    row = PredictionLog.objects.get(id=right_id)
    assert (row.label, row.is_correct) == (right_label, True)
    assert row.labelled_at is not None
    accuracy = live_accuracy_get(version_id=row.model_version_id)
    assert (accuracy.predictions, accuracy.labelled, accuracy.correct) == (4, 2, 1)
    assert accuracy.accuracy == 0.5


def test_same_label_twice_is_fine_and_a_different_one_conflicts(api_client, served):
    pid, label = served[0]
    url = f"/api/v1/predictions/{pid}/feedback"
    api_client.post(url, {"label": label}, format="json")

    again = api_client.post(url, {"label": label}, format="json")
    changed = api_client.post(url, {"label": _other(label)}, format="json")

    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"
    assert changed.status_code == 409
    assert "overwrite" in changed.json()["detail"]
    assert PredictionLog.objects.get(id=pid).label == label

    overwritten = api_client.post(url, {"label": _other(label), "overwrite": True}, format="json")
    assert overwritten.status_code == 201
    assert overwritten.json()["status"] == "overwritten"
    assert PredictionLog.objects.get(id=pid).label == _other(label)


def test_unknown_prediction_and_wrong_class(api_client, served):
    pid, _label = served[0]

    unknown = api_client.post(
        f"/api/v1/predictions/{uuid.uuid4()}/feedback", {"label": "<=50K"}, format="json"
    )
    garbage = api_client.post(
        "/api/v1/predictions/not-a-uuid/feedback", {"label": "<=50K"}, format="json"
    )
    wrong = api_client.post(
        f"/api/v1/predictions/{pid}/feedback", {"label": "maybe"}, format="json"
    )
    missing = api_client.post(f"/api/v1/predictions/{pid}/feedback", {}, format="json")

    assert unknown.status_code == 404
    assert garbage.status_code == 404
    assert wrong.status_code == 400
    assert "maybe" in wrong.json()["detail"] and "<=50K" in wrong.json()["detail"]
    assert missing.status_code == 400
    assert missing.json()["field"] == "label"
    assert PredictionLog.objects.filter(label__isnull=False).count() == 0


def test_bulk_feedback_reports_each_item(api_client, served):
    (a, a_label), (b, b_label), (c, c_label), _ = served
    api_client.post(f"/api/v1/predictions/{c}/feedback", {"label": c_label}, format="json")
    items = [
        {"prediction_id": a, "label": a_label},
        {"prediction_id": b, "label": "maybe"},
        {"prediction_id": str(uuid.uuid4()), "label": "<=50K"},
        {"prediction_id": c, "label": _other(c_label)},
        {"prediction_id": "garbage", "label": "<=50K"},
    ]

    response = api_client.post("/api/v1/feedback", {"items": items}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "recorded",
        "invalid",
        "not_found",
        "conflict",
        "not_found",
    ]
    assert body["counts"] == {"recorded": 1, "invalid": 1, "not_found": 2, "conflict": 1}
    assert PredictionLog.objects.get(id=a).label == a_label
    assert PredictionLog.objects.get(id=b).label is None
    assert PredictionLog.objects.get(id=c).label == c_label


def test_bulk_feedback_limits(api_client, served, settings):
    settings.FEEDBACK_MAX_ITEMS = 2
    items = [{"prediction_id": pid, "label": label} for pid, label in served[:3]]

    too_many = api_client.post("/api/v1/feedback", {"items": items}, format="json")
    empty = api_client.post("/api/v1/feedback", {"items": []}, format="json")
    anonymous = type(api_client)().post("/api/v1/feedback", {"items": items[:1]}, format="json")

    assert too_many.status_code == 400
    assert "At most 2" in too_many.json()["detail"]
    assert empty.status_code == 400
    assert anonymous.status_code in (401, 403)
    assert PredictionLog.objects.filter(label__isnull=False).count() == 0
