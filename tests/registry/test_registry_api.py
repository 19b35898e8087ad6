"""Models, versions and transitions over the API: filters, staff-only verbs, 409s."""

import pytest

from registry.models import ModelVersion, StageTransition
from tests.registry.factories import make_versions

pytestmark = pytest.mark.django_db


def test_versions_list_filters_by_model_and_stage(api_client):
    v1, v2 = make_versions("churn")
    make_versions("fraud", count=1)
    ModelVersion.objects.filter(pk=v2.pk).update(stage="staging")

    everything = api_client.get("/api/v1/versions/").json()
    staging = api_client.get("/api/v1/versions/?model=churn&stage=staging").json()
    bad = api_client.get("/api/v1/versions/?stage=live")

    assert everything["count"] == 3
    assert [(r["model"], r["version"]) for r in staging["results"]] == [("churn", 2)]
    assert staging["results"][0]["key_metrics"]["roc_auc"] == pytest.approx(0.82)
    assert bad.status_code == 400
    assert bad.json()["field"] == "stage"


def test_models_list_and_retrieve_by_name(api_client):
    v1, _ = make_versions("churn")
    ModelVersion.objects.filter(pk=v1.pk).update(stage="production")

    listing = api_client.get("/api/v1/models/").json()
    one = api_client.get("/api/v1/models/churn/")
    missing = api_client.get("/api/v1/models/nope/")

    assert listing["results"][0]["production_version"] == 1
    assert listing["results"][0]["version_count"] == 2
    assert one.status_code == 200
    assert missing.status_code == 404


def test_promote_is_staff_only_and_audited(api_client, staff_api_client):
    v1, v2 = make_versions()

    refused = api_client.post(f"/api/v1/versions/{v1.pk}/promote/", {"reason": "x"})
    promoted = staff_api_client.post(f"/api/v1/versions/{v1.pk}/promote/", {"reason": "best AUC"})
    again = staff_api_client.post(f"/api/v1/versions/{v1.pk}/promote/", {})

    assert refused.status_code == 403
    assert promoted.status_code == 200
    assert promoted.json()["stage"] == "production"
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    transition = StageTransition.objects.get()
    assert (transition.actor_label, transition.reason) == ("grace", "best AUC")
    trail = api_client.get("/api/v1/transitions/?model=churn").json()["results"]
    assert [(t["version"], t["to_stage"]) for t in trail] == [(1, "production")]


def test_archive_then_illegal_move_is_409(staff_api_client):
    (v1,) = make_versions(count=1)

    archived = staff_api_client.post(f"/api/v1/versions/{v1.pk}/archive/", {"reason": "old"})
    twice = staff_api_client.post(f"/api/v1/versions/{v1.pk}/archive/", {})

    assert archived.json()["stage"] == "archived"
    assert twice.status_code == 409
    assert "already in archived" in twice.json()["detail"]
