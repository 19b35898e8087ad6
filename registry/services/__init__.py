"""Registry services: datasets (ingest, target, delete) and model versions (register, stages)."""

from registry.services.datasets import (
    dataset_delete,
    dataset_generate_synthetic,
    dataset_ingest,
    dataset_set_target,
)
from registry.services.versions import (
    model_version_archive,
    model_version_card_evaluation,
    model_version_derived_write,
    model_version_load,
    model_version_mark_corrupt,
    model_version_promote,
    model_version_register,
    model_version_shap_importance,
    model_version_transition,
)
from registry.synthetic import REFERENCE as SYNTHETIC_REFERENCE
from registry.synthetic import SyntheticParams
from registry.synthetic import generate as synthetic_frame

__all__ = [
    "SYNTHETIC_REFERENCE",
    "SyntheticParams",
    "synthetic_frame",
    "dataset_delete",
    "dataset_generate_synthetic",
    "dataset_ingest",
    "dataset_set_target",
    "model_version_archive",
    "model_version_card_evaluation",
    "model_version_derived_write",
    "model_version_load",
    "model_version_mark_corrupt",
    "model_version_promote",
    "model_version_register",
    "model_version_shap_importance",
    "model_version_transition",
]
