"""One place decides which version serves a request: REST predict, V2 infer, the predict page
and batch scoring all ask `inference.serving.routing`, and a router another app registers
(the A/B test app will) is consulted for every request that names no version."""

import io

import pytest

from inference.models import BatchScoringJob, PredictionLog
from inference.services import batch_scoring_job_create
from inference.serving import routing
from inference.serving.cache import model_cache
from tests.inference.models import feature_rows, register
from tests.inference.test_batch_scoring import make_csv
from tests.inference.test_predict_page import _form_data
from tests.inference.test_v2_protocol import pd_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def challenger_router():
    """Two versions (v1 production, v2 not), and a router sending every unit-less request
    to v2 as the challenger arm of A/B test 42; it records what it was asked."""
    model_cache.clear()
    register("logreg")
    v2 = register("hgb")
    asked: list[tuple] = []

    def router(request: routing.RouteRequest, default):
        asked.append((request.model_name, request.source, request.unit_hash, default.version))
        if request.unit_hash:
            return None  # leave units alone: they keep production
        return routing.Route(
            target=routing.resolve(request.model_name, version=2), ab_test_id=42, arm="challenger"
        )

    routing.register_router(router)
    yield v2, asked
    routing.unregister_router(router)
    model_cache.clear()


def _logged() -> list[tuple]:
    return list(
        PredictionLog.objects.order_by("created_at").values_list(
            "model_version__version", "ab_test_id", "arm", "source"
        )
    )


def test_rest_predict_is_routed_and_its_rows_carry_the_test_and_arm(api_client, challenger_router):
    _, asked = challenger_router
    # when a request names no version
    response = api_client.post(
        "/api/v1/models/adult/predict", {"instances": feature_rows(2)}, format="json"
    )

    # then the router chose version 2, the answer says so, and both rows carry test and arm
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert _logged() == [(2, 42, "challenger", "rest")] * 2
    # and the router saw the model, the source and the production version it would get
    assert asked == [("adult", "rest", "", 1)]


def test_a_request_naming_a_version_or_a_stage_is_never_routed(api_client, challenger_router):
    _, asked = challenger_router
    # when requests name version 1, and the production stage
    for body in ({"version": 1}, {"stage": "production"}):
        response = api_client.post(
            "/api/v1/models/adult/predict",
            {"instances": feature_rows(1), **body},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert response.json()["version"] == 1

    # then the router was not asked and the rows carry no test
    assert asked == []
    assert _logged() == [(1, None, "", "rest")] * 2


def test_a_router_answering_none_leaves_production(api_client, challenger_router):
    # when a request with a unit id (which this router leaves alone) is served
    response = api_client.post(
        "/api/v1/models/adult/predict",
        {"instances": feature_rows(1), "unit_id": "user-7"},
        format="json",
    )

    # then production served it, and the row keeps the unit's hash
    assert response.json()["version"] == 1
    row = PredictionLog.objects.get()
    assert (row.model_version.version, row.ab_test_id, row.arm) == (1, None, "")
    assert row.unit_hash == routing.unit_id_hash("user-7") != ""


def test_v2_infer_is_routed(api_client, challenger_router):
    v2, _ = challenger_router
    # when a V2 infer request names no version
    response = api_client.post(
        "/v2/models/adult/infer", pd_request(feature_rows(2), v2.signature), format="json"
    )

    # then version 2 answered and logged
    assert response.status_code == 200, response.content
    assert response.json()["model_version"] == "2"
    assert _logged() == [(2, 42, "challenger", "v2")] * 2


def test_v2_infer_naming_a_version_is_not_routed(api_client, challenger_router):
    v2, asked = challenger_router
    response = api_client.post(
        "/v2/models/adult/versions/1/infer",
        pd_request(feature_rows(1), v2.signature),
        format="json",
    )
    assert response.json()["model_version"] == "1"
    assert asked == []
    assert _logged() == [(1, None, "", "v2")]


def test_the_predict_page_is_routed_unless_pinned(page_client, challenger_router):
    # when the page predicts without a pinned version, then with ?version=1
    row = _form_data(feature_rows(1)[0])
    assert page_client.post("/predict/adult/", row).status_code == 200
    assert page_client.post("/predict/adult/?version=1", row).status_code == 200

    # then the first was routed to the challenger and the pinned one was not
    assert _logged() == [(2, 42, "challenger", "page"), (1, None, "", "page")]


def test_batch_scoring_takes_the_routed_version_when_created(user, challenger_router):
    _, asked = challenger_router
    # when a batch job is created without a version
    job = batch_scoring_job_create(
        model_name="adult", file=io.BytesIO(make_csv(feature_rows(3))), filename="x.csv", actor=user
    )

    # then the router was asked as a batch, and its choice is the version the job keeps
    assert job.status == BatchScoringJob.Status.QUEUED
    assert job.model_version.version == 2
    assert asked == [("adult", "batch", "", 1)]


def test_registering_a_router_twice_consults_it_once(api_client, challenger_router):
    _, asked = challenger_router
    routing.register_router(routing._routers[0])
    api_client.post("/api/v1/models/adult/predict", {"instances": feature_rows(1)}, format="json")
    assert len(asked) == 1
