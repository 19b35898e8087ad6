"""The V2 Open Inference Protocol, with requests built the way V2 clients build them."""

import numpy as np
import pytest

from inference.models import PredictionLog
from inference.serving.cache import model_cache
from registry.services import model_version_load
from tests.inference.models import adult_rows, feature_rows, register

pytestmark = pytest.mark.django_db

KIND_DATATYPE = {"numeric": "FP64", "categorical": "BYTES", "boolean": "BOOL"}


@pytest.fixture(autouse=True)
def _empty_model_cache():
    model_cache.clear()
    yield
    model_cache.clear()


def pd_request(rows: list[dict], signature: dict, **extra) -> dict:
    """What MLServer's PandasCodec.encode_request produces: one input per column."""
    return {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {
                "name": f["name"],
                "shape": [len(rows), 1],
                "datatype": KIND_DATATYPE[f["kind"]],
                "data": [r[f["name"]] for r in rows],
            }
            for f in signature["features"]
        ],
        **extra,
    }


def test_health_and_server_metadata(api_client, client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    server = api_client.get("/v2").json()
    assert server["name"] == "modelyard"
    assert client.get("/v2").status_code == 401


def test_model_metadata_comes_from_the_signature(api_client):
    version = register("hgb")

    body = api_client.get("/v2/models/adult").json()
    same = api_client.get("/v2/models/adult/versions/1").json()

    assert body == same
    assert body["name"] == "adult"
    assert body["versions"] == ["1"]
    features = version.signature["features"]
    assert [i["name"] for i in body["inputs"]] == [f["name"] for f in features]
    by_name = {i["name"]: i["datatype"] for i in body["inputs"]}
    assert by_name["age"] == "FP64"
    assert by_name["workclass"] == "BYTES"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict_proba"]["shape"] == [-1, 2]
    assert outputs["predict_proba"]["parameters"]["class_labels"] == ["<=50K", ">50K"]
    assert api_client.get("/v2/models/adult/ready").json() == {"name": "adult", "ready": True}


def test_pd_encoded_infer_equals_rest_and_the_registry_loader(api_client):
    # given a model in production and 10 real rows
    version = register("hgb")
    rows = feature_rows(10)
    rows[3]["age"] = None  # a missing value travels as null

    # when the same rows go through V2 (pandas codec) and REST
    v2 = api_client.post(
        "/v2/models/adult/infer", pd_request(rows, version.signature, id="req-1"), format="json"
    )
    rest = api_client.post("/api/v1/models/adult/predict", {"instances": rows}, format="json")

    # then V2 answers in protocol shape, echoing the id and naming the version
    assert v2.status_code == 200, v2.content
    body = v2.json()
    assert body["id"] == "req-1"
    assert (body["model_name"], body["model_version"]) == ("adult", "1")
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["shape"] == [10]
    assert outputs["predict_proba"]["shape"] == [10, 2]
    v2_proba = np.array(outputs["predict_proba"]["data"]).reshape(10, 2)
    # and REST, V2 and the registry loader agree
    labels = version.class_labels
    rest_proba = np.array(
        [[p["probabilities"][c] for c in labels] for p in rest.json()["predictions"]]
    )
    np.testing.assert_array_equal(v2_proba, rest_proba)
    frame = adult_rows().drop(columns=["income"]).iloc[:10].copy()
    frame.loc[frame.index[3], "age"] = np.nan
    loader = model_version_load(version=version).predict_proba(frame)
    np.testing.assert_allclose(v2_proba, loader, rtol=0, atol=1e-9)
    assert outputs["predict"]["data"] == [p["label"] for p in rest.json()["predictions"]]
    # and every V2 row is logged under the id it answered with
    ids = outputs["prediction_id"]["data"]
    logged = PredictionLog.objects.filter(id__in=ids)
    assert logged.count() == 10
    assert set(logged.values_list("source", "request_id")) == {("v2", "req-1")}


def test_tensor_encoded_infer_for_a_numeric_model(api_client):
    # given a model trained on the numeric Adult columns only
    from tests.inference.models import register_numeric

    version = register_numeric()
    names = [f["name"] for f in version.signature["features"]]
    rows = feature_rows(4)
    matrix = [[float(r[n]) for n in names] for r in rows]

    # when a V2 client sends one FP32 tensor of shape [N, F]
    response = api_client.post(
        "/v2/models/adult-numeric/infer",
        {
            "inputs": [
                {"name": "input-0", "shape": [4, len(names)], "datatype": "FP32", "data": matrix}
            ],
            "outputs": [{"name": "predict_proba"}],
        },
        format="json",
    )

    # then it is scored like the same rows through REST
    assert response.status_code == 200, response.content
    outputs = response.json()["outputs"]
    assert [o["name"] for o in outputs] == ["predict_proba"]
    rest = api_client.post(
        "/api/v1/models/adult-numeric/predict",
        {"instances": [{n: r[n] for n in names} for r in rows]},
        format="json",
    ).json()
    expected = [p["probabilities"][c] for p in rest["predictions"] for c in version.class_labels]
    assert outputs[0]["data"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda body: body["inputs"].pop(0), "Missing input 'age'"),
        (lambda body: body["inputs"][1].update(data=[1, 2]), "shape"),
        (lambda body: body["inputs"][0].update(data=["x", 1, 2]), "Row 0: 'age' must be a number"),
        (lambda body: body["inputs"][0].update(datatype="FP99"), "unknown datatype"),
        (lambda body: body["inputs"].append({**body["inputs"][0], "name": "zip"}), "'zip'"),
        (lambda body: body.update(inputs=[]), "empty"),
        (lambda body: body.update(outputs=[{"name": "shap"}]), "Unknown output 'shap'"),
    ],
)
def test_v2_errors_are_400_with_a_message(api_client, mutate, fragment):
    version = register("logreg")
    body = pd_request(feature_rows(3), version.signature)
    mutate(body)

    response = api_client.post("/v2/models/adult/infer", body, format="json")

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"error"}
    assert fragment in response.json()["error"]
    assert PredictionLog.objects.count() == 0


def test_v2_unknown_model_or_version_is_404(api_client):
    version = register("logreg")
    body = pd_request(feature_rows(1), version.signature)

    for url in (
        "/v2/models/nope/infer",
        "/v2/models/adult/versions/7/infer",
        "/v2/models/nope",
        "/v2/models/adult/versions/7/ready",
    ):
        response = (
            api_client.post(url, body, format="json")
            if url.endswith("infer")
            else api_client.get(url)
        )
        assert response.status_code == 404, url
        assert set(response.json()) == {"error"}
    tensor = api_client.post(
        "/v2/models/adult/infer",
        {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]},
        format="json",
    )
    assert tensor.status_code == 400
    assert "one input per column" in tensor.json()["error"]
