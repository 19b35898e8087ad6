"""Every version's running counts are kept by the write path: served rows and requests by the
log writers, labels by the feedback service, failed requests per reason and minute; /metrics
reads them instead of counting the log."""

import pytest
from django.db.models import Count, Q

from inference.models import ErrorTally, PredictionLog, PredictionTally
from inference.selectors import live_accuracy_list
from tests.inference.models import feature_rows, register

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    from inference.serving.cache import model_cache

    model_cache.clear()


def test_version_tallies_equal_the_log_and_failed_requests_are_counted(api_client):
    # given production v1 and pinned v2, serving 1- and 3-row requests
    v1 = register("logreg")
    v2 = register("hgb")
    ids = []
    for i in range(12):
        body = {"instances": feature_rows(1 + 2 * (i % 2), start=i)}
        if i % 3 == 0:
            body["version"] = v2.version
        answer = api_client.post("/api/v1/models/adult/predict", body, format="json").json()
        ids += [p["id"] for p in answer["predictions"]]
    # and labels for some rows, one of them later overwritten
    items = [{"prediction_id": pid, "label": ">50K"} for pid in ids[:10]]
    api_client.post("/api/v1/feedback", {"items": items}, format="json")
    again = [{"prediction_id": ids[0], "label": "<=50K"}]
    api_client.post("/api/v1/feedback", {"items": again, "overwrite": True}, format="json")
    # and two requests that fail validation
    bad = feature_rows(1)[0]
    bad.pop("age")
    for _ in range(2):
        response = api_client.post(
            "/api/v1/models/adult/predict", {"instances": [bad]}, format="json"
        )
        assert response.status_code == 400

    # then each version's tallies are the log's own counts
    counted = {
        row["model_version_id"]: row
        for row in PredictionLog.objects.values("model_version_id").annotate(
            n=Count("id"),
            labelled=Count("id", filter=Q(label__isnull=False)),
            correct=Count("id", filter=Q(is_correct=True)),
        )
    }
    live = live_accuracy_list()
    for version in (v1, v2):
        row = counted[version.pk]
        assert (live[version.pk].predictions, live[version.pk].labelled) == (
            row["n"],
            row["labelled"],
        )
        assert live[version.pk].correct == row["correct"]
    requests = {
        t.model_version_id: t.requests for t in PredictionTally.objects.filter(ab_test_id=0)
    }
    assert requests == {v1.pk: 8, v2.pk: 4}
    # and the failed requests are counted for production, by reason and minute
    errors = list(ErrorTally.objects.values_list("model_version_id", "reason", "errors"))
    assert errors == [(v1.pk, "missing_feature", 2)]


def test_metrics_read_the_tallies_not_the_log(client, api_client):
    # given a version with three labelled predictions, two of them right
    v1 = register("logreg")
    answer = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(3)}, format="json"
    ).json()
    labels = [p["label"] for p in answer["predictions"]]
    wrong = "<=50K" if labels[2] == ">50K" else ">50K"
    items = [
        {"prediction_id": answer["predictions"][i]["id"], "label": label}
        for i, label in enumerate([labels[0], labels[1], wrong])
    ]
    api_client.post("/api/v1/feedback", {"items": items}, format="json")

    # when the log rows are gone (as retention will remove old ones)
    PredictionLog.objects.all().delete()

    # then /metrics still reports what was served and how right it was
    text = client.get("/metrics").content.decode()
    assert f'modelyard_logged_predictions{{model="adult",version="{v1.version}"}} 3.0' in text
    assert f'modelyard_live_accuracy{{model="adult",version="{v1.version}"}} 0.666' in text
