"""Rows for registry tests that do not need a trained model (stages, audit, API)."""

from registry.builtin import SYNTHETIC_REFERENCE
from registry.models import ModelVersion, RegisteredModel
from registry.services import dataset_generate_synthetic


def make_versions(name: str = "churn", count: int = 2, **fields) -> list[ModelVersion]:
    dataset, _ = dataset_generate_synthetic(params=SYNTHETIC_REFERENCE)
    model, _ = RegisteredModel.objects.get_or_create(name=name)
    return [
        ModelVersion.objects.create(
            registered_model=model,
            version=n,
            dataset=dataset,
            family="hgb",
            metrics={"roc_auc": 0.8 + n / 100, "f1": 0.6},
            signature={"target": "label", "class_labels": ["negative", "positive"], "features": []},
            **fields,
        )
        for n in range(1, count + 1)
    ]
