"""Model cards, written from the registry's own records, never by hand.

`card_facts(version)` gathers everything the platform knows about a version: its model and
training run, its data, its evaluation (the stored test metrics, bootstrap intervals and slices
from `engine.card`, SHAP importance) and what happened to it in production (stage transitions
with their evidence, drift checks, A/B decisions, live accuracy). Two renderings share it:

- `card_markdown`: a Hugging Face model card (`README.md`), YAML metadata built with
  huggingface_hub's `ModelCardData` and `EvalResult` (the model-index of the test results)
  and parsed back by `ModelCard`, which applies the library's metadata checks;
- `card_json`: Google's Model Card Toolkit layout (model_details, model_parameters,
  quantitative_analysis, considerations) plus the production history.

Both are generated on each request from the current records, so a card always reflects the
version's history as it is; nothing is stored that could go stale.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from engine import vocabulary
from registry.selectors import model_version_history

if TYPE_CHECKING:
    from registry.models import ModelVersion

CARD_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
}
DEFAULT_SLICE_MAX_CATEGORIES = 12


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "dataset"


def default_slices(version: ModelVersion) -> list[str]:
    """The categorical features shown when nobody picked: those with at most 12 categories."""
    return [
        f["name"]
        for f in version.signature.get("features", [])
        if f.get("kind") in ("categorical", "boolean")
        and len(f.get("categories") or []) <= DEFAULT_SLICE_MAX_CATEGORIES
    ]


def card_facts(version: ModelVersion, *, slices: list[str] | None = None) -> dict:
    """Every fact a card states, as plain data (numbers exactly as the registry holds them)."""
    from abtests.selectors import abtest_decisions_of_version
    from inference.selectors import live_accuracy_get
    from monitoring.selectors import drift_checks_of_version
    from registry.services import model_version_card_evaluation

    model = version.registered_model
    metrics = version.metrics or {}
    evaluation = model_version_card_evaluation(version=version) or {}
    signature = version.signature or {}
    features = signature.get("features", [])
    chosen = default_slices(version) if slices is None else list(slices)
    dataset = version.dataset
    job = version.training_job
    live = live_accuracy_get(version_id=version.pk)
    facts = {
        "model": model.name,
        "version": version.version,
        "stage": version.stage,
        "created_at": version.created_at,
        "generated_at": timezone.now(),
        "family": version.family,
        "family_label": {c.name: c.label for c in vocabulary.FAMILIES}.get(
            version.family, version.family
        ),
        "params": {k: v for k, v in (version.params or {}).items() if k != "imbalance"},
        "imbalance": (version.params or {}).get("imbalance", ""),
        "calibration": (metrics.get("calibration") or {}).get("method", "none"),
        "threshold": version.threshold,
        "library_versions": version.library_versions or {},
        "manifest_sha256": version.manifest_sha256,
        "files": sorted(
            (name, info.get("bytes"), info.get("sha256"))
            for name, info in (version.artifact_files or {}).items()
        ),
        "target": signature.get("target", ""),
        "class_labels": signature.get("class_labels", []),
        "numeric": [f for f in features if f.get("kind") == "numeric"],
        "categorical": [f for f in features if f.get("kind") in ("categorical", "boolean")],
        "dataset": None,
        "training": None,
        "metrics": {name: metrics.get(name) for name in CARD_METRICS if name in metrics},
        "test_rows": metrics.get("n"),
        "intervals": evaluation.get("intervals") or {},
        "bootstrap": {
            "resamples": evaluation.get("resamples"),
            "confidence": evaluation.get("confidence"),
        },
        "confusion_matrix": metrics.get("confusion_matrix"),
        "ece": metrics.get("ece"),
        "ece_uncalibrated": metrics.get("ece_uncalibrated"),
        "log_loss_uncalibrated": metrics.get("log_loss_uncalibrated"),
        "slices": {
            name: (evaluation.get("slices") or {}).get(name)
            for name in chosen
            if name in (evaluation.get("slices") or {})
        },
        "slice_choices": sorted((evaluation.get("slices") or {}).keys()),
        "permutation_importance": {
            name: value.get("mean")
            for name, value in (metrics.get("feature_importance") or {}).items()
        },
        "shap_importance": (metrics.get("shap_importance") or {}).get("values") or {},
        "history": [
            {
                "at": t.created_at,
                "from": t.from_stage,
                "to": t.to_stage,
                "actor": t.actor_label,
                "reason": t.reason,
                "evidence": t.evidence or {},
            }
            for t in model_version_history(version)
        ],
        "drift_checks": drift_checks_of_version(version.pk),
        "ab_decisions": abtest_decisions_of_version(version.pk),
        "live": {
            "predictions": live.predictions,
            "labelled": live.labelled,
            "accuracy": live.accuracy,
        },
    }
    if dataset is not None:
        facts["dataset"] = {
            "name": dataset.name,
            "slug": _slug(dataset.name),
            "sha256": dataset.sha256,
            "rows": dataset.row_count,
            "columns": dataset.column_count,
            "origin": dataset.origin,
            "class_balance": [list(pair) for pair in (dataset.target_classes or [])],
            "lineage": (dataset.source_params or {}).get("lineage"),
        }
    if job is not None:
        config = job.config or {}
        facts["training"] = {
            "job": job.pk,
            "families": config.get("families", []),
            "imbalance": config.get("imbalance", []),
            "metric": config.get("metric"),
            "trials": job.n_trials,
            "complete": job.trials_done,
            "pruned": job.trials_pruned,
            "failed": job.trials_failed,
            "timeout_s": config.get("timeout_s"),
            "max_epochs": config.get("max_epochs"),
            "seed": config.get("seed"),
            "val_fraction": config.get("val_fraction"),
            "test_fraction": config.get("test_fraction"),
            "best_value": job.best_value,
            "validation_score": version.validation_score,
            "cpu_seconds": job.cpu_seconds,
        }
    return facts


# -- Hugging Face README.md ------------------------------------------------------------------


def _number(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def card_data(facts: dict):
    """huggingface_hub's ModelCardData: library, tags, pipeline tag, dataset, metrics and the
    model-index of the test results (one EvalResult per metric)."""
    from huggingface_hub import EvalResult, ModelCardData

    dataset = facts["dataset"] or {"slug": "unknown", "name": "unknown"}
    results = [
        EvalResult(
            task_type="tabular-classification",
            task_name="Tabular classification",
            dataset_type=dataset["slug"],
            dataset_name=dataset["name"],
            dataset_split="test",
            metric_type=name,
            metric_name=METRIC_NAMES[name],
            metric_value=round(float(value), 6),
        )
        for name, value in facts["metrics"].items()
        if value is not None
    ]
    library = "pytorch" if facts["family"] == "mlp" else "sklearn"
    return ModelCardData(
        model_name=f"{facts['model']}-v{facts['version']}",
        library_name=library,
        pipeline_tag="tabular-classification",
        tags=["modelyard", "tabular-classification", facts["family"]],
        datasets=[dataset["slug"]],
        metrics=[name for name in facts["metrics"]],
        eval_results=results or None,
    )


def card_markdown(facts: dict) -> str:
    """The whole README.md: YAML metadata, then the sections."""
    from huggingface_hub import ModelCard

    data = card_data(facts)
    body = "\n\n".join(
        [
            f"# {facts['model']} v{facts['version']}",
            f"Generated by Modelyard from the registry's records on "
            f"{facts['generated_at']:%Y-%m-%d %H:%M} UTC; do not edit by hand, it is written "
            "again from the records. Stage: **" + facts["stage"] + "**.",
            _details(facts),
            _intended_use(facts),
            _training_data(facts),
            _training_procedure(facts),
            _evaluation(facts),
            _history(facts),
        ]
    )
    card = ModelCard("---\n" + data.to_yaml() + "\n---\n\n" + body + "\n")
    return str(card)


def _details(f: dict) -> str:
    params = _table(
        ["parameter", "value"], [[k, _number(v)] for k, v in sorted(f["params"].items())]
    )
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(f["library_versions"].items()))
    files = _table(
        ["file", "bytes", "sha256"], [[name, size, f"`{sha}`"] for name, size, sha in f["files"]]
    )
    threshold = (
        f"{f['threshold']:.4f} on P({f['class_labels'][1]})"
        if f["threshold"] is not None and len(f["class_labels"]) == 2
        else "argmax"
    )
    return "\n\n".join(
        [
            "## Model details",
            f"- Family: {f['family_label']} (`{f['family']}`)\n"
            f"- Imbalance strategy: {f['imbalance'] or 'none'}\n"
            f"- Calibration: {f['calibration']}\n"
            f"- Decision rule: {threshold}\n"
            f"- Registered: {f['created_at']:%Y-%m-%d %H:%M} UTC\n"
            f"- Libraries: {libraries}\n"
            f"- Manifest sha256: `{f['manifest_sha256']}`",
            "### Hyperparameters",
            params,
            "### Files",
            files,
        ]
    )


def _intended_use(f: dict) -> str:
    numeric = _table(
        ["feature", "min", "max", "missing share"],
        [
            [
                x["name"],
                _number(x.get("min")),
                _number(x.get("max")),
                _number(x.get("missing_share"), 3),
            ]
            for x in f["numeric"]
        ],
    )
    categorical = _table(
        ["feature", "categories seen in training"],
        [
            [
                x["name"],
                ", ".join(map(str, (x.get("categories") or [])[:20]))
                + (" …" if len(x.get("categories") or []) > 20 else ""),
            ]
            for x in f["categorical"]
        ],
    )
    gaps = [
        f"`{name}` ({s['gap']:.3f})"
        for name, s in f["slices"].items()
        if s and s.get("gap") is not None
    ]
    lines = [
        "## Intended use and limitations",
        f"Predicts `{f['target']}` ({', '.join(map(str, f['class_labels']))}) for one tabular "
        f"row of the {len(f['numeric']) + len(f['categorical'])} input features below, through "
        "the REST or V2 API, the predict page or batch scoring. It was trained on the data "
        "below and has only been measured on rows like it:",
        "- Numeric values outside the training range are extrapolation; nothing checks them.",
        '- A category training never saw is served as "unknown" and reported in the answer.',
        (
            f"- Probabilities are calibrated ({f['calibration']}) on validation rows"
            if f["calibration"] != "none"
            else "- Probabilities are the model's own (calibration chose none on validation rows)"
        )
        + "; drift in the inputs or in what the labels mean is watched by the drift monitor "
        "(see the production history).",
    ]
    if gaps:
        lines.append(
            "- Accuracy differs between groups: the best and worst slice differ by "
            + ", ".join(gaps)
            + " (see Evaluation)."
        )
    return "\n\n".join(
        [
            lines[0],
            lines[1],
            "\n".join(lines[2:]),
            "### Numeric inputs",
            numeric,
            "### Categorical inputs",
            categorical,
        ]
    )


def _training_data(f: dict) -> str:
    d = f["dataset"]
    if d is None:
        return "## Training data\n\nThe dataset is no longer in the registry."
    balance = ", ".join(f"{label}: {count}" for label, count in d["class_balance"])
    text = (
        f"## Training data\n\n- Dataset: {d['name']} ({d['origin']})\n"
        f"- sha256: `{d['sha256']}`\n- Rows: {d['rows']}, columns: {d['columns']}\n"
        f"- Class balance: {balance}"
    )
    lineage = d.get("lineage")
    if lineage:
        text += (
            "\n\n### Lineage (retraining)\n\n"
            f"Built from dataset `{lineage.get('parent_sha256')}` "
            f"({lineage.get('rows_from_parent')} rows) and "
            f"{lineage.get('rows_from_predictions')} labelled predictions of the version "
            f"then in production ({lineage.get('predictions_from')} to "
            f"{lineage.get('predictions_to')}); the newest {lineage.get('rows_held_out')} were "
            "held out to compare the challenger with the champion."
        )
    return text


def _training_procedure(f: dict) -> str:
    t = f["training"]
    if t is None:
        return "## Training procedure\n\nNo training job is on record (an imported version)."
    return (
        "## Training procedure\n\n"
        f"An Optuna search (training job {t['job']}): families {', '.join(t['families'])}; "
        f"imbalance strategies {', '.join(t['imbalance'])}; metric {t['metric']}; "
        f"{t['trials']} trials requested, {t['complete']} complete, {t['pruned']} pruned "
        f"(median pruner on the validation loss), {t['failed']} failed; budget "
        f"{t['timeout_s'] or 'none'} s, at most {t['max_epochs']} epochs for an MLP; seed "
        f"{t['seed']}; validation / test split {t['val_fraction']} / {t['test_fraction']}, "
        f"stratified. The winner's validation score: {_number(t['validation_score'])}; "
        f"CPU time of the whole search: {_number(t['cpu_seconds'], 1)} s."
    )


def _evaluation(f: dict) -> str:
    boot = f["bootstrap"]
    rows = []
    for name, value in f["metrics"].items():
        interval = f["intervals"].get(name)
        ci = f"{interval['low']:.4f} – {interval['high']:.4f}" if interval else "—"
        rows.append([METRIC_NAMES[name], _number(value), ci])
    parts = [
        "## Evaluation",
        f"On {f['test_rows']} held-out test rows. Intervals: 95 % percentile bootstrap, "
        f"{boot.get('resamples') or '—'} resamples of the test rows.",
        _table(["metric", "value", "95 % interval"], rows),
    ]
    matrix = f["confusion_matrix"]
    if matrix:
        parts += [
            "### Confusion matrix (rows: true class, columns: predicted)",
            _table(
                ["", *map(str, f["class_labels"])],
                [[label, *row] for label, row in zip(f["class_labels"], matrix, strict=False)],
            ),
        ]
    parts.append(
        "### Calibration\n\n"
        f"Expected calibration error {_number(f['ece_uncalibrated'])} before calibration, "
        f"{_number(f['ece'])} after ({f['calibration']}); log loss "
        f"{_number(f['log_loss_uncalibrated'])} before, "
        f"{_number(f['metrics'].get('log_loss'))} after."
    )
    for name, s in f["slices"].items():
        if not s:
            continue
        rows = [
            [
                x["value"],
                x["rows"],
                _number(x["accuracy"]),
                _number(x.get("positive_rate")),
                "" if x["comparable"] else f"fewer than {s['min_rows']} rows",
            ]
            for x in s["slices"]
        ]
        gap = f"{s['gap']:.4f}" if s["gap"] is not None else "—"
        parts += [
            f"### Slices of `{name}` (gap between the best and worst slice's accuracy: {gap})",
            _table(["value", "rows", "accuracy", "predicted positive rate", "note"], rows),
        ]
    if f["shap_importance"]:
        top = sorted(f["shap_importance"].items(), key=lambda kv: -kv[1])[:10]
        parts += [
            "### What it relies on (mean |SHAP|, log-odds)",
            _table(
                ["feature", "mean abs SHAP", "permutation importance"],
                [[k, _number(v), _number(f["permutation_importance"].get(k))] for k, v in top],
            ),
        ]
    return "\n\n".join(parts)


def _evidence(evidence: dict) -> str:
    """A transition's evidence in one table cell: its keys and short values."""
    if not evidence:
        return ""
    text = json.dumps(evidence, sort_keys=True, default=str)
    text = text.replace("|", "\\|")
    return f"`{text[:160]}{'…' if len(text) > 160 else ''}`"


def _history(f: dict) -> str:
    parts = ["## Production history"]
    if f["history"]:
        parts.append(
            _table(
                ["when", "from", "to", "by", "reason", "evidence"],
                [
                    [
                        f"{h['at']:%Y-%m-%d %H:%M}",
                        h["from"],
                        h["to"],
                        h["actor"],
                        h["reason"] or "",
                        _evidence(h["evidence"]),
                    ]
                    for h in f["history"]
                ],
            )
        )
    else:
        parts.append(
            f"Registered as a candidate on {f['created_at']:%Y-%m-%d %H:%M} UTC; "
            "no stage changes since."
        )
    live = f["live"]
    parts.append(
        f"Live accuracy: {_number(live['accuracy'])} on {live['labelled']} labelled of "
        f"{live['predictions']} logged predictions."
    )
    if f["drift_checks"]:
        parts += [
            "### Drift checks",
            _table(
                ["when", "verdict", "drift share", "drifted features"],
                [
                    [
                        f"{c['at']:%Y-%m-%d %H:%M}",
                        c["verdict"],
                        _number(c["drift_share"]),
                        ", ".join(c["drifted"]),
                    ]
                    for c in f["drift_checks"]
                ],
            ),
        ]
    if f["ab_decisions"]:
        parts += [
            "### A/B test decisions",
            _table(
                ["when", "test", "decision"],
                [
                    [f"{d['at']:%Y-%m-%d %H:%M}", d["test"], d["sentence"]]
                    for d in f["ab_decisions"]
                ],
            ),
        ]
    return "\n\n".join(parts)


# -- Model Card Toolkit JSON ---------------------------------------------------------------------


def _iso(value):
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def card_json(facts: dict) -> dict:
    """Model Card Toolkit's fields (schema 0.0.2) plus `production_history`."""
    metrics = []
    for name, value in facts["metrics"].items():
        entry = {"type": name, "value": value, "slice": "test"}
        interval = facts["intervals"].get(name)
        if interval:
            entry["confidence_interval"] = {
                "lower_bound": interval["low"],
                "upper_bound": interval["high"],
            }
        metrics.append(entry)
    for feature, s in facts["slices"].items():
        for x in (s or {}).get("slices", []):
            metrics.append(
                {
                    "type": "accuracy",
                    "value": x["accuracy"],
                    "slice": f"{feature}={x['value']}",
                    "rows": x["rows"],
                }
            )
    d = facts["dataset"] or {}
    return {
        "schema_version": "0.0.2",
        "model_details": {
            "name": f"{facts['model']} v{facts['version']}",
            "overview": f"{facts['family_label']} predicting {facts['target']}.",
            "version": {"name": str(facts["version"]), "date": _iso(facts["created_at"])},
            "path": f"{facts['model']}/v{facts['version']}",
            "stage": facts["stage"],
            "checksums": {name: sha for name, _, sha in facts["files"]},
            "manifest_sha256": facts["manifest_sha256"],
            "library_versions": facts["library_versions"],
        },
        "model_parameters": {
            "model_architecture": facts["family"],
            "hyperparameters": facts["params"],
            "imbalance": facts["imbalance"],
            "calibration": facts["calibration"],
            "threshold": facts["threshold"],
            "data": {
                "train": {
                    "name": d.get("name"),
                    "sha256": d.get("sha256"),
                    "rows": d.get("rows"),
                    "class_balance": d.get("class_balance"),
                    "lineage": d.get("lineage"),
                },
            },
            "input_format": {
                "numeric": {x["name"]: [x.get("min"), x.get("max")] for x in facts["numeric"]},
                "categorical": {x["name"]: x.get("categories") for x in facts["categorical"]},
            },
            "output_format": {"target": facts["target"], "classes": facts["class_labels"]},
            "training": facts["training"],
        },
        "quantitative_analysis": {
            "performance_metrics": metrics,
            "confusion_matrix": facts["confusion_matrix"],
            "calibration": {"ece": facts["ece"], "ece_uncalibrated": facts["ece_uncalibrated"]},
            "slice_gaps": {name: (s or {}).get("gap") for name, s in facts["slices"].items()},
            "feature_importance": {
                "mean_abs_shap": facts["shap_importance"],
                "permutation": facts["permutation_importance"],
            },
        },
        "considerations": {
            "use_cases": [f"Predict {facts['target']} for rows like the training data."],
            "limitations": [
                "Numeric inputs outside the training ranges are extrapolation.",
                "Unseen categories are served as unknown.",
            ],
        },
        "production_history": {
            "transitions": [{**h, "at": _iso(h["at"])} for h in facts["history"]],
            "drift_checks": [{**c, "at": _iso(c["at"])} for c in facts["drift_checks"]],
            "ab_decisions": [{**x, "at": _iso(x["at"])} for x in facts["ab_decisions"]],
            "live": facts["live"],
        },
        "generated_at": _iso(facts["generated_at"]),
    }


def card_html(markdown_text: str) -> str:
    """The README's body (after the YAML block) as HTML for the version page (CommonMark with
    tables, raw HTML off: every value in a card comes from records a user may have typed)."""
    from markdown_it import MarkdownIt

    body = (
        markdown_text.split("\n---\n", 1)[1] if markdown_text.startswith("---") else markdown_text
    )
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(body)


def parse_slices(raw: str | None, version: ModelVersion) -> list[str] | None:
    """?slices=sex,race: the features picked (unknown names dropped); None: the default."""
    if raw is None:
        return None
    allowed = {
        f["name"]
        for f in (version.signature or {}).get("features", [])
        if f.get("kind") in ("categorical", "boolean")
    }
    return [name for name in raw.split(",") if name in allowed]
