import uuid

import numpy as np
import pandas as pd
import pytest
from django.http import HttpResponse
from django.urls import path

from inference.models import PredictionLog
from inference.serving.cache import model_cache
from mlops_site import urls as site_urls
from registry.services import model_version_load
from tests.inference.models import adult_rows, feature_rows, production, register

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_model_cache():
    model_cache.clear()
    yield
    model_cache.clear()


def _predict(api_client, body, name="adult", **query):
    url = f"/api/v1/models/{name}/predict"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return api_client.post(url, body, format="json")


@pytest.mark.parametrize("family", ["hgb", "mlp", "logreg"])
def test_predict_matches_registry_loader_and_logs_every_row(api_client, family):
    # given a trained version in production
    version = register(family)
    rows = feature_rows(25)

    # when 25 rows are predicted
    response = _predict(api_client, {"instances": rows, "unit_id": "user-7"})

    # then the answer names the version and gives each row an id, a label and probabilities
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["model"], body["version"], body["stage"]) == ("adult", 1, "production")
    predictions = body["predictions"]
    assert len(predictions) == 25
    labels = version.class_labels
    served = np.array([[p["probabilities"][c] for c in labels] for p in predictions])
    # and the probabilities equal the registry loader's on the same rows
    fitted = model_version_load(version=version)
    frame = adult_rows().drop(columns=["income"]).iloc[:25]
    expected = fitted.predict_proba(frame)
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)
    assert [p["label"] for p in predictions] == fitted.predict(frame)
    # and every row is logged under its id
    logs = {str(p.id): p for p in PredictionLog.objects.filter(model_version=version)}
    assert set(logs) == {p["id"] for p in predictions}
    first = logs[predictions[0]["id"]]
    assert first.features == rows[0]
    assert first.prediction == predictions[0]["label"]
    assert first.probabilities == pytest.approx(predictions[0]["probabilities"])
    assert first.source == "rest"
    assert len(first.unit_hash) == 64 and "user-7" not in first.unit_hash
    assert first.latency_ms > 0


def test_null_is_a_missing_value_the_imputer_fills(api_client):
    register("hgb")
    row = feature_rows(1)[0]
    row["age"] = None
    row["workclass"] = None

    response = _predict(api_client, {"instances": [row]})

    assert response.status_code == 200, response.content
    frame = pd.DataFrame([row])
    expected = model_version_load(version=production()).predict_proba(frame)[0]
    got = response.json()["predictions"][0]["probabilities"]
    assert list(got.values()) == pytest.approx(expected.tolist(), abs=1e-9)


def test_unknown_category_is_served_and_reported(api_client):
    register("hgb")
    row = feature_rows(1)[0]
    row["native_country"] = "Atlantis"

    response = _predict(api_client, {"instances": [row]})

    assert response.status_code == 200, response.content
    prediction = response.json()["predictions"][0]
    assert prediction["unknown_categories"] == ["native_country"]
    log = PredictionLog.objects.get(id=prediction["id"])
    assert log.unknown_categories == ["native_country"]


@pytest.mark.parametrize(
    ("mutate", "reason", "field", "row"),
    [
        (lambda rows: rows[1].pop("age"), "missing_feature", "age", 1),
        (lambda rows: rows[2].update(colour="blue"), "unexpected_feature", "colour", 2),
        (lambda rows: rows[0].update(age="forty"), "wrong_type", "age", 0),
        (lambda rows: rows[1].update(age=True), "wrong_type", "age", 1),
        (lambda rows: rows[2].update(workclass={"a": 1}), "wrong_type", "workclass", 2),
        (lambda rows: rows[0].update(age=[1, 2]), "wrong_type", "age", 0),
        (lambda rows: rows.__setitem__(1, "not a row"), "bad_request", None, 1),
    ],
)
def test_malformed_rows_are_400s_naming_row_and_field(api_client, mutate, reason, field, row):
    # given a model in production and three good rows, one of them spoiled
    register("logreg")
    rows = feature_rows(3)
    mutate(rows)

    # when they are sent
    response = _predict(api_client, {"instances": rows})

    # then the answer is a 400 naming the row and the field, and nothing was logged
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == reason
    assert body.get("field") == field
    assert body["row"] == row
    assert f"Row {row}" in body["detail"]
    assert PredictionLog.objects.count() == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_naming_row_and_field(api_client, literal):
    register("logreg")
    rows = feature_rows(2)
    rows[1]["age"] = 12345.5
    raw = pd.io.json.ujson_dumps({"instances": rows}).replace("12345.5", literal)

    response = api_client.post("/api/v1/models/adult/predict", raw, content_type="application/json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["error"], body["field"], body["row"]) == ("not_finite", "age", 1)
    assert PredictionLog.objects.count() == 0


def test_batch_limits_and_body_errors(api_client, settings):
    register("logreg")
    settings.PREDICT_MAX_ROWS = 5
    model_cache.clear()  # the row limit is compiled into the loaded model
    cases = [
        ({"instances": []}, "empty_batch", "instances"),
        ({"instances": feature_rows(6)}, "too_many_rows", "instances"),
        ({"rows": feature_rows(1)}, "bad_request", "rows"),
        ({}, "bad_request", "instances"),
        ({"instances": {"age": 3}}, "bad_request", "instances"),
        ({"instances": feature_rows(1), "version": "two"}, "bad_request", "version"),
        (
            {"instances": feature_rows(1), "version": 1, "stage": "staging"},
            "bad_request",
            "version",
        ),
        ({"instances": feature_rows(1), "unit_id": {"x": 1}}, "bad_request", "unit_id"),
    ]
    for body, reason, field in cases:
        response = _predict(api_client, body)
        assert response.status_code == 400, (body, response.content)
        assert (response.json()["error"], response.json().get("field")) == (reason, field), body

    for raw, reason in [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "bad_request"),
    ]:
        response = api_client.post(
            "/api/v1/models/adult/predict", raw, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.json()["error"] == reason

    settings.PREDICT_MAX_BODY_BYTES = 100
    response = _predict(api_client, {"instances": feature_rows(3)})
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["field"]) == ("body_too_large", "body")
    assert PredictionLog.objects.count() == 0


def test_unknown_model_or_version_is_404_and_auth_is_required(api_client, client):
    register("logreg")

    assert _predict(api_client, {"instances": feature_rows(1)}, name="nope").status_code == 404
    missing = _predict(api_client, {"instances": feature_rows(1)}, version=9)
    assert missing.status_code == 404
    assert "version 9" in missing.json()["detail"]
    staging = _predict(api_client, {"instances": feature_rows(1)}, stage="staging")
    assert staging.status_code == 404

    anonymous = client.post(
        "/api/v1/models/adult/predict", {"instances": []}, content_type="application/json"
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "not_authenticated"
    bad_token = client.post(
        "/api/v1/models/adult/predict",
        {"instances": []},
        content_type="application/json",
        HTTP_AUTHORIZATION="Token nope",
    )
    assert bad_token.status_code == 401
    assert api_client.get("/api/v1/models/adult/predict").status_code == 405


def test_version_and_stage_selection(api_client):
    first = register("logreg")
    second = register("hgb")
    assert (first.stage, second.stage) == ("production", "candidate")

    by_default = _predict(api_client, {"instances": feature_rows(1)})
    by_number = _predict(api_client, {"instances": feature_rows(1), "version": 2})
    by_query = _predict(api_client, {"instances": feature_rows(1)}, version=2)
    by_stage = _predict(api_client, {"instances": feature_rows(1), "stage": "candidate"})

    assert by_default.json()["version"] == 1
    assert by_number.json()["version"] == 2
    assert by_query.json()["version"] == 2
    assert by_stage.json()["version"] == 2
    assert PredictionLog.objects.filter(model_version=second).count() == 3


def test_corrupt_version_is_never_served(api_client):
    version = register("logreg")
    (version.artifact_dir / "preprocessor.json").write_text("{}")

    response = _predict(api_client, {"instances": feature_rows(1)})

    assert response.status_code == 409
    assert "checksum" in response.json()["detail"]
    version.refresh_from_db()
    assert version.is_corrupt
    assert PredictionLog.objects.count() == 0


def test_session_users_need_the_csrf_token(user, client):
    register("logreg")
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(user)

    refused = csrf_client.post(
        "/api/v1/models/adult/predict",
        {"instances": feature_rows(1)},
        content_type="application/json",
    )

    assert refused.status_code == 403
    csrf_client.get("/")  # sets the csrftoken cookie
    token = csrf_client.cookies["csrftoken"].value
    accepted = csrf_client.post(
        "/api/v1/models/adult/predict",
        {"instances": feature_rows(1)},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert accepted.status_code == 200, accepted.content
    assert uuid.UUID(accepted.json()["predictions"][0]["id"])


def test_openapi_schema_documents_the_prediction_endpoints(api_client):
    response = api_client.get("/api/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    predict = paths["/api/v1/models/{name}/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "instances"
    ]
    assert {"200", "400", "404"} <= set(predict["responses"])
    assert "/v2/models/{name}/infer" in paths
    assert "/api/v1/feedback" in paths


def test_prediction_paths_take_the_short_middleware_chain(api_client):
    # given a production model
    register("logreg")

    # when it is asked for a prediction, and for paths of the prediction lane nothing serves
    answer = _predict(api_client, {"instances": feature_rows(1)})
    rest_missing = api_client.post(
        "/api/v1/models/not%20a%20slug/predict", {"instances": []}, format="json"
    )
    v2_missing = api_client.post("/v2/models/adult/explain", {"inputs": []}, format="json")

    # then the answer has the security headers and none of the page-only middleware's
    assert answer.status_code == 200
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in answer
    # and the misses are each protocol's JSON 404, not the HTML page
    assert rest_missing.status_code == 404
    assert rest_missing.json()["error"] == "not_found"
    assert v2_missing.status_code == 404
    assert v2_missing.json() == {"error": "No such endpoint: /v2/models/adult/explain"}
    # while a page still goes down the full chain
    page = api_client.get("/predict/")
    assert page["X-Frame-Options"] == "DENY"


def _plain_view(request):
    return HttpResponse("reached")


# A URLconf for the next test: the site's, plus a view on a lane path that does not log in.
urlpatterns = [path("v2/models/x/plain", _plain_view), *site_urls.urlpatterns]


def test_a_view_without_its_own_login_check_never_takes_the_lane(client, settings):
    # given a view on a prediction path that is not marked login_not_required
    settings.ROOT_URLCONF = __name__

    # when an anonymous caller asks for it
    response = client.get("/v2/models/x/plain")

    # then the full chain's LoginRequiredMiddleware sends them to log in
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
