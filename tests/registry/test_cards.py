"""Model cards from the registry's records: the Hugging Face metadata parses and validates the
way huggingface_hub checks it, every number is the registry's, slices equal a direct
computation on the test rows, and the production history is there."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.repocard_data import model_index_to_eval_results

from abtests.services import abtest_create
from core import csvfiles
from engine.metrics import predict_indices
from engine.search import SearchConfig, prepare_data
from registry import cards
from registry.models import ModelVersion
from registry.services import (
    model_version_card_evaluation,
    model_version_load,
)
from tests.training.adult_sample import adult_sample_dataset
from training.services import training_job_create, training_job_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(django_capture_on_commit_callbacks):
    """A version trained by a real (in-process) training job on 1,500 Adult rows."""
    dataset = adult_sample_dataset(1500)
    with django_capture_on_commit_callbacks(execute=False):
        job = training_job_create(
            dataset=dataset,
            model_name="adult",
            families=["logreg"],
            n_trials=2,
            seed=4,
        )
    training_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.result_version is not None, job.error
    return ModelVersion.objects.get(pk=job.result_version_id)


def _front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("---\n")[1])


def test_the_readme_metadata_validates_and_holds_the_registrys_numbers(trained):
    text = cards.card_markdown(cards.card_facts(trained))

    # the YAML parses back through huggingface_hub (ModelCard and ModelCardData run the
    # library's checks, e.g. on the model-index), with the pipeline tag and library
    card = ModelCard(text)
    metadata = _front_matter(text)
    ModelCardData(**metadata, ignore_metadata_errors=False)
    assert metadata["pipeline_tag"] == "tabular-classification"
    assert metadata["library_name"] == "sklearn"
    assert "modelyard" in metadata["tags"]
    model_name, results = model_index_to_eval_results(metadata["model-index"])
    assert model_name == "adult-v1"
    # and every test metric is the registry's
    reported = {r.metric_type: r.metric_value for r in results}
    for name in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"):
        assert reported[name] == round(trained.metrics[name], 6)
    assert {r.dataset_split for r in results} == {"test"}
    assert card.data.eval_results[0].task_type == "tabular-classification"
    # the body states the files' checksums and the dataset's
    for name, info in trained.artifact_files.items():
        assert f"| {name} | {info['bytes']} | `{info['sha256']}` |" in text
    assert trained.dataset.sha256 in text and trained.manifest_sha256 in text


def test_the_json_is_the_model_card_toolkit_layout_with_the_same_numbers(trained):
    data = cards.card_json(cards.card_facts(trained))
    assert set(data) >= {
        "model_details",
        "model_parameters",
        "quantitative_analysis",
        "considerations",
        "production_history",
    }
    metrics = {
        m["type"]: m
        for m in data["quantitative_analysis"]["performance_metrics"]
        if m["slice"] == "test"
    }
    assert metrics["accuracy"]["value"] == trained.metrics["accuracy"]
    interval = metrics["accuracy"]["confidence_interval"]
    assert interval["lower_bound"] <= trained.metrics["accuracy"] <= interval["upper_bound"]
    assert data["quantitative_analysis"]["confusion_matrix"] == trained.metrics["confusion_matrix"]
    checksums = data["model_details"]["checksums"]
    assert checksums == {name: i["sha256"] for name, i in trained.artifact_files.items()}
    json.dumps(data)  # serialisable as it is


def _test_rows(version: ModelVersion):
    c = version.training_job.config
    config = SearchConfig(
        target=c["target"],
        families=c["families"],
        imbalance=c["imbalance"],
        metric=c["metric"],
        n_trials=version.training_job.n_trials,
        seed=c["seed"],
    )
    frame = csvfiles.read_frame(version.dataset.absolute_path, version.dataset.delimiter)
    prepared = prepare_data(frame, config, columns=version.dataset.columns)
    return prepared.test_features, prepared.y_test


def test_slices_and_intervals_come_from_the_test_rows(trained):
    # given the test rows, split again as the job split them
    features, y = _test_rows(trained)
    model = model_version_load(version=trained)
    pred = predict_indices(model.predict_proba(features), model.threshold)

    # then the card's value of each metric on those rows is the registry's
    evaluation = trained.metrics["card"]
    assert evaluation["rows"] == trained.metrics["n"] == len(y)
    assert evaluation["intervals"]["accuracy"]["value"] == pytest.approx(
        trained.metrics["accuracy"], abs=1e-12
    )
    # and the slices of `sex` are a direct group-by of those rows
    facts = cards.card_facts(trained, slices=["sex"])
    assert list(facts["slices"]) == ["sex"]
    sliced = {s["value"]: s for s in facts["slices"]["sex"]["slices"]}
    for value in features["sex"].dropna().unique():
        rows = (features["sex"] == value).to_numpy()
        assert sliced[value]["rows"] == int(rows.sum())
        assert sliced[value]["accuracy"] == pytest.approx(np.mean(pred[rows] == y[rows]))
    accuracies = [s["accuracy"] for s in sliced.values() if s["comparable"]]
    assert facts["slices"]["sex"]["gap"] == pytest.approx(max(accuracies) - min(accuracies))
    assert "### Slices of `sex`" in cards.card_markdown(facts)


def test_an_older_version_gets_the_same_evaluation_recomputed(trained):
    stored = trained.metrics["card"]
    trained.metrics = {k: v for k, v in trained.metrics.items() if k != "card"}
    trained.save(update_fields=["metrics"])

    again = model_version_card_evaluation(version=trained)

    assert again["intervals"] == stored["intervals"]
    assert again["slices"] == stored["slices"]
    trained.refresh_from_db()
    assert trained.metrics["card"]["rows"] == stored["rows"]


def test_the_production_history_is_in_the_card(trained):
    from monitoring.models import DriftCheck, DriftMonitor

    # given the first version, promoted to production by the system, and a drift check
    monitor, _ = DriftMonitor.objects.get_or_create(registered_model=trained.registered_model)
    DriftCheck.objects.create(
        monitor=monitor,
        model_version=trained,
        status="succeeded",
        verdict="drift",
        drift_share=0.25,
        features=[{"name": "age", "effect": 0.3, "drifted": True}],
        config={},
    )
    text = cards.card_markdown(cards.card_facts(trained))
    history = text.split("## Production history")[1]
    transition = trained.transitions.get()
    assert f"| candidate | production | {transition.actor_label} |" in history
    assert "### Drift checks" in text and "| drift | 0.2500 | age |" in text
    # and an A/B test it was in, with its decision
    from abtests.models import Decision
    from abtests.services import abtest_stop
    from tests.inference.models import register

    challenger = register("hgb")
    test = abtest_create(challenger=challenger, min_labelled_per_arm=100)
    abtest_stop(test=test, reason="enough seen")
    decision = Decision.objects.get(test=test)
    text = cards.card_markdown(cards.card_facts(trained))
    assert "### A/B test decisions" in text and decision.sentence in text


def test_downloads_the_page_and_the_api(page_client, api_client, trained):
    md = page_client.get(f"/models/adult/versions/{trained.version}/README.md?slices=sex,nope")
    assert md.status_code == 200
    assert md["Content-Type"].startswith("text/markdown")
    assert 'filename="README.md"' in md["Content-Disposition"]
    text = md.content.decode()
    assert "### Slices of `sex`" in text and "nope" not in text
    as_json = page_client.get(f"/models/adult/versions/{trained.version}/card.json")
    assert as_json.status_code == 200 and as_json.json()["schema_version"] == "0.0.2"

    page = page_client.get(f"/models/adult/versions/{trained.version}/?card=1&slice=race")
    html = page.content.decode()
    assert 'id="model-card"' in html and "Slices of <code>race</code>" in html

    api = api_client.get(f"/api/v1/versions/{trained.pk}/card")
    assert api.status_code == 200 and api.json()["model_details"]["name"] == "adult v1"
    api_md = api_client.get(f"/api/v1/versions/{trained.pk}/card", {"output": "md"})
    assert api_md.status_code == 200 and api_md.content.decode().startswith("---\n")
    assert api_client.get("/api/v1/versions/999999/card").status_code == 404
    bad = api_client.get(f"/api/v1/versions/{trained.pk}/card", {"output": "pdf"})
    assert bad.status_code == 400 and "output" in bad.json()["detail"]
