"""POST /api/v1/models/{name}/explain: predict's rows and errors, each row's SHAP values per
input feature adding up to its log-odds; nothing logged. The Predict page draws the row."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from scipy.special import logit

from inference.models import PredictionLog
from inference.serving.cache import model_cache
from tests.inference.models import feature_rows, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def adult():
    model_cache.clear()
    return register("hgb")


def _post(api_client, path: str, body) -> tuple[int, dict]:
    response = api_client.post(
        path,
        json.dumps(body) if not isinstance(body, bytes) else body,
        content_type="application/json",
    )
    return response.status_code, response.json()


def test_each_row_is_its_prediction_and_contributions_that_add_up(api_client, adult):
    rows = feature_rows(5)
    status, predicted = _post(api_client, "/api/v1/models/adult/predict", {"instances": rows})
    logged = PredictionLog.objects.count()

    status, body = _post(api_client, "/api/v1/models/adult/explain", {"instances": rows})

    assert status == 200, body
    assert (body["model"], body["version"], body["method"]) == ("adult", 1, "tree-path-dependent")
    features = [f["name"] for f in adult.signature["features"]]
    for answer, explanation in zip(predicted["predictions"], body["explanations"], strict=True):
        # the same prediction as predict gives
        assert explanation["label"] == answer["label"]
        assert explanation["probabilities"] == pytest.approx(answer["probabilities"])
        assert explanation["explained_class"] == answer["label"]
        # one contribution per input feature, summing with the base value to the output
        assert list(explanation["contributions"]) == features
        total = explanation["base_value"] + sum(explanation["contributions"].values())
        assert total == pytest.approx(explanation["output"], abs=1e-9)
    # an explanation is not a served prediction: nothing more in the log
    assert PredictionLog.objects.count() == logged


def test_the_output_is_the_uncalibrated_log_odds(api_client, adult):
    from engine.families import serving_kernel
    from registry.services import model_version_load

    row = feature_rows(1)
    status, body = _post(api_client, "/api/v1/models/adult/explain", {"instances": row})
    explanation = body["explanations"][0]
    model = model_version_load(version=adult)
    raw = serving_kernel(model.estimator).predict_proba(
        model.preprocessor.transform(pd.DataFrame(row))
    )[0]
    k = body["class_labels"].index(explanation["explained_class"])
    assert explanation["output"] == pytest.approx(logit(raw[k]), abs=1e-6)


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [{"age": 30}]},  # missing features
        {"instances": [dict(feature_rows(1)[0], age="old")]},  # wrong type
        {"instances": []},
        {"instances": "rows"},
        {"rows": feature_rows(1)},
        [feature_rows(1)[0]],
        {"instances": feature_rows(1), "version": "two"},
        {"instances": feature_rows(1), "version": 1, "stage": "production"},
    ],
)
def test_malformed_requests_get_predicts_400s(api_client, adult, body):
    predicted = _post(api_client, "/api/v1/models/adult/predict", body)
    explained = _post(api_client, "/api/v1/models/adult/explain", body)
    assert predicted[0] == 400
    # the same status and JSON error; only the wording of an unknown key's list may differ
    assert explained[0] == 400
    assert explained[1]["error"] == predicted[1]["error"]
    if body != {"rows": feature_rows(1)}:
        assert explained[1] == predicted[1]


def test_other_errors(api_client, client, adult, settings):
    assert (
        _post(api_client, "/api/v1/models/nope/explain", {"instances": feature_rows(1)})[0] == 404
    )
    status, body = _post(
        api_client, "/api/v1/models/adult/explain", {"instances": feature_rows(1), "version": 9}
    )
    assert status == 404
    assert _post(api_client, "/api/v1/models/adult/explain", b"{not json")[0] == 400
    settings.EXPLAIN_MAX_ROWS = 3
    status, body = _post(api_client, "/api/v1/models/adult/explain", {"instances": feature_rows(4)})
    assert (status, body["error"]) == (400, "too_many_rows") and "3" in body["detail"]
    assert (
        client.post("/api/v1/models/adult/explain", {}, content_type="application/json").status_code
        == 401
    )
    assert api_client.get("/api/v1/models/adult/explain").status_code == 405


def test_a_version_without_its_reference_sample_is_a_409(api_client, adult):
    adult.reference_file.unlink()
    model_cache.clear()
    status, body = _post(api_client, "/api/v1/models/adult/explain", {"instances": feature_rows(1)})
    assert status == 409 and "reference sample" in body["detail"]


@pytest.mark.parametrize("family", ["logreg", "mlp"])
def test_every_family_explains_over_the_api(api_client, family):
    model_cache.clear()
    register(family)
    status, body = _post(api_client, "/api/v1/models/adult/explain", {"instances": feature_rows(3)})
    assert status == 200, body
    for explanation in body["explanations"]:
        total = explanation["base_value"] + sum(explanation["contributions"].values())
        assert total == pytest.approx(explanation["output"], abs=1e-9)


def test_the_predict_page_draws_the_row_it_predicted(page_client, adult):
    row = feature_rows(1)[0]
    form = {name: "" if value is None else value for name, value in row.items()}
    page = page_client.post("/predict/adult/", form)
    html = page.content.decode()
    assert page.status_code == 200, html[:2000]
    assert 'id="chart-explanation"' in html and "Why " in html
    charts = json.loads(
        html.split('id="charts-data" type="application/json">')[1].split("</script>")[0]
    )
    waterfall = next(c for c in charts if c["id"] == "chart-explanation")["figure"]["data"][0]
    assert waterfall["type"] == "waterfall"
    assert waterfall["measure"][0] == "absolute" and waterfall["measure"][-1] == "total"
    # base + the bars = the total
    assert sum(waterfall["x"][:-1]) == pytest.approx(waterfall["x"][-1], abs=1e-2)
