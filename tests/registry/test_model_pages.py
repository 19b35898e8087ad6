"""Model registry pages: models, versions, charts, lineage, stage buttons (staff), compare."""

import json

import pytest
from django.urls import reverse

from registry.models import ModelVersion, RegisteredModel, StageTransition
from registry.services import dataset_generate_synthetic, model_version_transition
from registry.synthetic import SyntheticParams
from training.models import TrainingJob, Trial

pytestmark = pytest.mark.django_db

Stage = ModelVersion.Stage


def binary_metrics(roc_auc=0.85, log_loss=0.42, f1=0.7):
    return {
        "accuracy": 0.81,
        "balanced_accuracy": 0.78,
        "precision": 0.72,
        "recall": 0.68,
        "f1": f1,
        "roc_auc": roc_auc,
        "pr_auc": 0.74,
        "log_loss": log_loss,
        "brier": 0.13,
        "ece": 0.03,
        "confusion_matrix": [[50, 8], [9, 23]],
        "curves": {
            "roc": {"fpr": [0.0, 0.1, 0.3, 1.0], "tpr": [0.0, 0.6, 0.85, 1.0]},
            "pr": {"precision": [1.0, 0.8, 0.6, 0.35], "recall": [0.0, 0.5, 0.8, 1.0]},
            "calibration": {
                "mean_predicted": [0.1, 0.4, 0.8],
                "fraction_positive": [0.12, 0.35, 0.82],
                "count": [40, 30, 20],
            },
        },
    }


SIGNATURE = {
    "target": "label",
    "class_labels": ["0", "1"],
    "features": [
        {
            "name": "x0",
            "kind": "numeric",
            "min": -3.2,
            "max": 3.9,
            "mean": 0.1,
            "missing_share": 0.0,
        },
        {
            "name": "colour",
            "kind": "categorical",
            "categories": ["blue", "green", "red"],
            "missing_share": 0.05,
        },
    ],
    "dropped_columns": ["row_id"],
}


@pytest.fixture
def dataset():
    return dataset_generate_synthetic(params=SyntheticParams(rows=200, seed=1))[0]


def make_version(dataset, number, *, name="churn", stage=Stage.CANDIDATE, **fields):
    model, _ = RegisteredModel.objects.get_or_create(name=name)
    values = {
        "dataset": dataset,
        "dataset_sha256": dataset.sha256,
        "family": "hgb",
        "params": {"learning_rate": 0.1, "max_leaf_nodes": 31, "imbalance": "none"},
        "metrics": binary_metrics(),
        "validation_score": 0.84,
        "threshold": 0.5,
        "signature": SIGNATURE,
        "library_versions": {"scikit-learn": "1.5.2", "torch": "2.4.1"},
        "artifact_path": f"{name}/v{number}",
        "artifact_files": {
            "model.skops": {"sha256": "ab" * 32, "bytes": 20480},
            "manifest.json": {"sha256": "cd" * 32, "bytes": 900},
        },
        "manifest_sha256": "ef" * 32,
        "size_bytes": 21380,
    }
    values.update(fields)
    return ModelVersion.objects.create(
        registered_model=model, version=number, stage=stage, **values
    )


def charts_in(html: str) -> dict:
    data = html.split('<script id="charts-data" type="application/json">')[1].split("</script>")[0]
    return {c["id"]: c["figure"] for c in json.loads(data)}


def version_url(version, name="registry:version_detail"):
    return reverse(name, args=[version.registered_model.name, version.version])


# --- Model list and detail --------------------------------------------------------------------


def test_model_list_shows_production_latest_count_and_key_metric(page_client, dataset):
    # given a model with v1 in production and a newer candidate v2, and an empty-ish second model
    make_version(dataset, 1, stage=Stage.PRODUCTION, metrics=binary_metrics(roc_auc=0.8771))
    make_version(dataset, 2)
    make_version(dataset, 1, name="fraud", metrics={"f1": 0.5555})

    # when the registry page is opened
    response = page_client.get(reverse("registry:model_list"))

    # then each model shows its production and latest versions and a key metric
    html = response.content.decode()
    rows = response.context["rows"]
    assert response.status_code == 200
    assert [r["model"].name for r in rows] == ["churn", "fraud"]
    churn, fraud = rows
    assert churn["production"].version == 1
    assert churn["latest"].version == 2
    assert churn["version_count"] == 2
    assert churn["key_metric"]["key"] == "roc_auc"
    assert "0.877" in html
    assert fraud["production"] is None
    assert fraud["key_metric"]["key"] == "f1"
    assert reverse("registry:model_detail", args=["churn"]) in html


def test_model_list_without_models(page_client):
    response = page_client.get(reverse("registry:model_list"))

    assert response.status_code == 200
    assert "No models yet" in response.content.decode()


def test_model_detail_lists_versions_with_stage_metrics_job_and_corrupt_flag(page_client, dataset):
    # given three versions, one trained by a job and one corrupt
    job = TrainingJob.objects.create(dataset=dataset, model_name="churn", n_trials=5)
    make_version(dataset, 1, stage=Stage.PRODUCTION, training_job=job)
    make_version(dataset, 2, integrity_error="model.skops: checksum mismatch")
    make_version(dataset, 3, stage=Stage.STAGING, metrics=binary_metrics(log_loss=0.3999))

    # when the model's page is opened
    response = page_client.get(reverse("registry:model_detail", args=["churn"]))

    # then every version is a row, newest first, and the compare form picks production vs latest
    html = response.content.decode()
    assert response.status_code == 200
    assert [v.version for v in response.context["versions"]] == [3, 2, 1]
    assert html.count('<span class="badge badge-bad"') == 1  # the corrupt flag
    assert "0.3999" in html
    assert reverse("training:job_detail", args=[job.pk]) in html
    assert response.context["compare_a"] == 1
    assert response.context["compare_b"] == 3
    assert 'id="compare-form"' in html


def test_unknown_model_is_404(page_client):
    assert page_client.get(reverse("registry:model_detail", args=["nope"])).status_code == 404


# --- Version detail ---------------------------------------------------------------------------


def test_version_detail_shows_metrics_charts_signature_lineage_and_history(page_client, dataset):
    # given a version trained by a job with 4 trials, moved to staging once
    job = TrainingJob.objects.create(dataset=dataset, model_name="churn", n_trials=4)
    for n in range(4):
        Trial.objects.create(job=job, number=n, family="hgb", state="complete", value=0.8)
    version = make_version(dataset, 1, training_job=job)
    model_version_transition(version=version, to_stage=Stage.STAGING, reason="looks good")
    StageTransition.objects.filter(model_version=version).update(evidence={"roc_auc": 0.85})

    # when its page is opened
    response = page_client.get(version_url(version))

    # then metrics, the four charts, features, lineage and the history are there
    html = response.content.decode()
    assert response.status_code == 200
    assert "Balanced accuracy" in html
    assert "Expected calibration error" in html
    charts = charts_in(html)
    assert set(charts) == {"chart-confusion", "chart-roc", "chart-pr", "chart-calibration"}
    assert charts["chart-confusion"]["data"][0]["z"] == [[50, 8], [9, 23]]
    assert charts["chart-confusion"]["data"][0]["x"] == ["0", "1"]
    roc = charts["chart-roc"]["data"][1]
    assert roc["x"] == [0.0, 0.1, 0.3, 1.0]
    assert "AUC 0.850" in roc["name"]
    assert charts["chart-calibration"]["data"][1]["customdata"] == [40, 30, 20]
    assert 'id="features-table"' in html
    assert "blue, green, red" in html
    assert "row_id" in html
    assert dataset.sha256 in html
    assert reverse("registry:dataset_detail", args=[dataset.pk]) in html
    assert reverse("training:job_detail", args=[job.pk]) in html
    assert "4 trials" in html
    assert "scikit-learn 1.5.2" in html
    assert "ab" * 32 in html
    assert "20.0\xa0KB" in html
    assert "looks good" in html
    assert "{&quot;roc_auc&quot;:0.85}" in html
    assert "vendor/plotly/plotly.min.js" in html
    assert 'id="corrupt-box"' not in html


def test_multiclass_version_without_curves_renders_the_matrix_and_per_class_table(
    page_client, dataset
):
    # given a three-class version whose metrics have no curves
    version = make_version(
        dataset,
        1,
        metrics={
            "accuracy": 0.7,
            "f1": 0.66,
            "log_loss": 0.8,
            "confusion_matrix": [[10, 1, 0], [2, 9, 1], [0, 3, 8]],
            "per_class": {
                "a": {"precision": 0.83, "recall": 0.91, "f1": 0.87},
                "b": {"precision": 0.69, "recall": 0.75, "f1": 0.72},
                "c": {"precision": 0.89, "recall": 0.73, "f1": 0.8},
            },
        },
        signature={**SIGNATURE, "class_labels": ["a", "b", "c"]},
    )

    response = page_client.get(version_url(version))

    html = response.content.decode()
    assert response.status_code == 200
    assert set(charts_in(html)) == {"chart-confusion"}
    assert 'id="per-class-table"' in html
    assert "0.9100" in html


def test_version_without_metrics_or_job_still_renders(page_client, dataset):
    version = make_version(
        dataset, 1, metrics={}, signature={}, artifact_files={}, library_versions={}
    )

    response = page_client.get(version_url(version))

    assert response.status_code == 200
    assert charts_in(response.content.decode()) == {}
    assert "No metrics recorded." in response.content.decode()


def test_unknown_version_is_404(page_client, dataset):
    make_version(dataset, 1)

    response = page_client.get(reverse("registry:version_detail", args=["churn", 9]))

    assert response.status_code == 404


def test_staff_see_stage_buttons_marked_staff_and_others_do_not(client, user, staff_user, dataset):
    version = make_version(dataset, 1)

    client.force_login(staff_user)
    staff_html = client.get(version_url(version)).content.decode()
    client.force_login(user)
    user_html = client.get(version_url(version)).content.decode()

    assert "Promote to production <small>(staff)</small>" in staff_html
    assert "Move to staging <small>(staff)</small>" in staff_html
    assert "Archive <small>(staff)</small>" in staff_html
    assert 'name="reason"' in staff_html
    assert 'id="stage-actions"' not in user_html
    assert "Promote to production" not in user_html


def test_staff_promote_changes_the_stage_and_records_the_transition(staff_client, dataset):
    # given v1 in production and a candidate v2
    old = make_version(dataset, 1, stage=Stage.PRODUCTION)
    new = make_version(dataset, 2)

    # when a staff user promotes v2 with a reason
    response = staff_client.post(
        version_url(new, "registry:version_transition"),
        {"to_stage": "production", "reason": "better ROC AUC"},
        follow=True,
    )

    # then v2 serves, v1 is archived, both moves are audited, and the page says so
    new.refresh_from_db()
    old.refresh_from_db()
    assert response.redirect_chain[-1][0] == version_url(new)
    assert new.stage == Stage.PRODUCTION
    assert old.stage == Stage.ARCHIVED
    transition = StageTransition.objects.get(model_version=new)
    assert (transition.from_stage, transition.to_stage) == ("candidate", "production")
    assert transition.actor.username == "grace"
    assert transition.reason == "better ROC AUC"
    assert StageTransition.objects.get(model_version=old).to_stage == "archived"
    html = response.content.decode()
    assert "flash-success" in html
    assert "moved to Production" in html
    assert "better ROC AUC" in html


def test_staff_archive_and_move_to_staging(staff_client, dataset):
    version = make_version(dataset, 1)
    url = version_url(version, "registry:version_transition")

    staff_client.post(url, {"to_stage": "staging", "reason": ""})
    version.refresh_from_db()
    assert version.stage == Stage.STAGING

    staff_client.post(url, {"to_stage": "archived", "reason": "superseded"})
    version.refresh_from_db()
    assert version.stage == Stage.ARCHIVED
    assert StageTransition.objects.filter(model_version=version).count() == 2


def test_non_staff_transition_is_forbidden_and_changes_nothing(page_client, dataset):
    version = make_version(dataset, 1)

    response = page_client.post(
        version_url(version, "registry:version_transition"), {"to_stage": "production"}
    )

    version.refresh_from_db()
    assert response.status_code == 403
    assert version.stage == Stage.CANDIDATE
    assert not StageTransition.objects.exists()


def test_a_refused_transition_shows_the_service_message(staff_client, dataset):
    version = make_version(dataset, 1)

    response = staff_client.post(
        version_url(version, "registry:version_transition"),
        {"to_stage": "candidate"},
        follow=True,
    )

    assert "flash-error" in response.content.decode()
    assert "already in candidate" in response.content.decode()


def test_corrupt_version_warns_and_cannot_be_promoted(staff_client, dataset):
    # given a version whose artifacts failed their checksums
    version = make_version(dataset, 1, integrity_error="model.skops: sha256 mismatch")

    # when its page is opened, and a staff user tries to promote it anyway
    page = staff_client.get(version_url(version)).content.decode()
    response = staff_client.post(
        version_url(version, "registry:version_transition"),
        {"to_stage": "production", "reason": "try"},
        follow=True,
    )

    # then the page says it is not served, the button is disabled, and the service refuses
    assert 'id="corrupt-box"' in page
    assert "Corrupt: not served." in page
    assert "model.skops: sha256 mismatch" in page
    assert 'disabled title="A corrupt version cannot be promoted"' in page
    version.refresh_from_db()
    assert version.stage == Stage.CANDIDATE
    assert not StageTransition.objects.exists()
    html = response.content.decode()
    assert "flash-error" in html
    assert "cannot serve" in html


# --- Compare ----------------------------------------------------------------------------------


def test_compare_shows_deltas_judged_by_direction_overlaid_roc_and_params(page_client, dataset):
    # given v2 with a higher ROC AUC (better) and a higher log loss (worse) than v1
    make_version(dataset, 1, metrics=binary_metrics(roc_auc=0.80, log_loss=0.40))
    make_version(
        dataset,
        2,
        family="mlp",
        params={"lr": 0.001, "hidden_units": 64, "imbalance": "none"},
        metrics=binary_metrics(roc_auc=0.85, log_loss=0.50),
    )

    # when they are compared
    response = page_client.get(reverse("registry:version_compare", args=["churn"]) + "?a=1&b=2")

    # then deltas are b - a, coloured by whether they are better
    html = response.content.decode()
    assert response.status_code == 200
    rows = {r["key"]: r for r in response.context["comparison"]["metrics"]}
    assert rows["roc_auc"]["delta"] == pytest.approx(0.05)
    assert rows["roc_auc"]["verdict"] == "better"
    assert rows["log_loss"]["verdict"] == "worse"
    assert rows["f1"]["verdict"] == "same"
    assert '<span class="delta delta-better">+0.0500</span>' in html
    assert '<span class="delta delta-worse">+0.1000</span>' in html
    roc = charts_in(html)["chart-roc-compare"]["data"]
    assert [t["name"] for t in roc[1:]] == ["v1 (AUC 0.800)", "v2 (AUC 0.850)"]
    params = {p["key"]: p for p in response.context["comparison"]["params"]}
    assert params["family"] == {"key": "family", "a": "hgb", "b": "mlp", "differs": True}
    assert params["lr"]["a"] is None and params["lr"]["b"] == 0.001
    assert params["imbalance"]["differs"] is False


def test_compare_without_two_versions_goes_back_with_a_message(page_client, dataset):
    make_version(dataset, 1)

    response = page_client.get(
        reverse("registry:version_compare", args=["churn"]) + "?a=1", follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("registry:model_detail", args=["churn"])
    assert "Choose two versions" in response.content.decode()


def test_compare_with_an_unknown_version_is_404(page_client, dataset):
    make_version(dataset, 1)

    response = page_client.get(reverse("registry:version_compare", args=["churn"]) + "?a=1&b=7")

    assert response.status_code == 404


# --- Access -----------------------------------------------------------------------------------


def test_registry_pages_redirect_anonymous_users_to_login(client, dataset):
    version = make_version(dataset, 1)
    urls = [
        reverse("registry:model_list"),
        reverse("registry:model_detail", args=["churn"]),
        version_url(version),
        reverse("registry:version_compare", args=["churn"]) + "?a=1&b=1",
    ]

    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))
    refused = client.post(
        version_url(version, "registry:version_transition"), {"to_stage": "staging"}
    )
    version.refresh_from_db()
    assert refused.status_code == 302
    assert version.stage == Stage.CANDIDATE


def test_dataset_urls_keep_their_paths():
    assert reverse("registry:dataset_list") == "/datasets/"
    assert reverse("registry:dataset_detail", args=[3]) == "/datasets/3/"
    assert reverse("registry:model_list") == "/models/"
    assert reverse("registry:version_detail", args=["churn", 2]) == "/models/churn/versions/2/"
