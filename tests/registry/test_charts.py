"""The registry's figures, built straight from a version's stored metrics (no page, no
database): each has the data it claims, in the shared palette, or is left out."""

import copy

from core import charts as palette
from registry import charts
from registry.models import Dataset, ModelVersion
from tests.registry.test_model_pages import SIGNATURE, binary_metrics


def _version(metrics: dict, number: int = 1) -> ModelVersion:
    return ModelVersion(version=number, metrics=metrics, signature=SIGNATURE)


def _with_calibration_and_importance() -> dict:
    metrics = binary_metrics()
    metrics["calibration"] = {"method": "platt", "validation_log_loss": {"none": 0.5}}
    metrics["curves"]["calibration_uncalibrated"] = {
        "mean_predicted": [0.2, 0.6, 0.95],
        "fraction_positive": [0.1, 0.35, 0.7],
        "count": [40, 30, 20],
    }
    metrics["feature_importance"] = {
        "x0": {"mean": 0.12, "std": 0.01},
        "colour": {"mean": 0.03, "std": 0.005},
    }
    return metrics


def test_every_figure_of_a_full_version_in_order():
    figures = {
        c["id"]: c["figure"]
        for c in charts.model_version_charts(_version(_with_calibration_and_importance()))
    }
    assert list(figures) == [
        "chart-confusion",
        "chart-roc",
        "chart-pr",
        "chart-calibration",
        "chart-importance",
    ]
    # the confusion matrix shows the stored counts with the version's class labels
    heatmap = figures["chart-confusion"]["data"][0]
    assert heatmap["z"] == [[50, 8], [9, 23]] and heatmap["x"] == ["0", "1"]
    # the ROC curve names its AUC and uses the palette's first colour
    roc = figures["chart-roc"]["data"][1]
    assert roc["name"] == "ROC (AUC 0.850)" and roc["line"]["color"] == palette.BLUE
    assert figures["chart-roc"]["data"][0] == palette.diagonal()


def test_calibration_shows_before_and_after_and_importance_is_ranked():
    figures = {
        c["id"]: c["figure"]
        for c in charts.model_version_charts(_version(_with_calibration_and_importance()))
    }
    names = [t.get("name") for t in figures["chart-calibration"]["data"]]
    assert names == ["chance", "before calibration", "calibrated (platt)"]
    bars = figures["chart-importance"]["data"][0]
    assert bars["y"] == ["colour", "x0"]  # largest last: drawn at the top
    assert bars["x"] == [0.03, 0.12]
    assert bars["error_x"]["array"] == [0.005, 0.01]


def test_figures_without_data_are_left_out():
    metrics = binary_metrics()
    del metrics["confusion_matrix"]
    metrics["curves"]["pr"] = {"precision": [], "recall": []}
    ids = [c["id"] for c in charts.model_version_charts(_version(metrics))]
    assert ids == ["chart-roc", "chart-calibration"]
    assert charts.model_version_charts(_version({})) == []


def test_long_curves_are_thinned_and_rounded():
    metrics = copy.deepcopy(binary_metrics())
    n = 5000
    metrics["curves"]["roc"] = {
        "fpr": [i / (n - 1) for i in range(n)],
        "tpr": [(i / (n - 1)) ** 0.5 for i in range(n)],
    }
    roc = charts.roc_chart(_version(metrics))["figure"]["data"][1]
    assert len(roc["x"]) == palette.MAX_CURVE_POINTS
    assert roc["x"][0] == 0.0 and roc["x"][-1] == 1.0
    assert all(len(str(v)) <= 6 for v in roc["y"])


def test_compare_overlays_both_versions_in_two_colours():
    a, b = _version(binary_metrics(roc_auc=0.8), 1), _version(binary_metrics(roc_auc=0.9), 2)
    (chart,) = charts.model_version_compare_charts(a, b)
    traces = chart["figure"]["data"][1:]
    assert [t["name"] for t in traces] == ["v1 (AUC 0.800)", "v2 (AUC 0.900)"]
    assert [t["line"]["color"] for t in traces] == list(palette.SERIES[:2])
    assert charts.model_version_compare_charts(_version({}), _version({})) == []


def test_dataset_charts_put_the_target_first():
    dataset = Dataset(
        target="label",
        target_classes=[["no", 70], ["yes", 30]],
        columns=[
            {"name": "x0", "histogram": {"edges": [0.0, 1.0, 2.0], "counts": [3, 4]}},
            {"name": "colour", "top": [["red", 5], ["blue", 2]], "other_count": 1},
            {"name": "label"},
            {"name": "id"},  # nothing to draw
        ],
    )
    drawn = charts.dataset_charts(dataset)
    assert [c["name"] for c in drawn] == ["label", "x0", "colour"]
    assert drawn[0]["figure"]["data"][0]["marker"]["color"] == palette.ORANGE
    assert drawn[1]["figure"]["data"][0]["x"] == [0.5, 1.5]
    assert drawn[2]["figure"]["data"][0]["x"] == ["red", "blue", "(other)"]
