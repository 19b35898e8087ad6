"""Registry services: datasets (ingest, target, delete) and model versions (register, stages)."""

from registry.services.datasets import (
    dataset_delete,
    dataset_generate_synthetic,
    dataset_ingest,
    dataset_set_target,
)
from registry.services.hub import (
    HUB_EXPORTS,
    hub_export_create,
    hub_export_run,
    hub_exports_sweep,
    hub_token_set,
    hub_token_source,
)
from registry.services.imports import model_version_import, model_version_import_repo
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
    "model_version_import",
    "model_version_import_repo",
    "HUB_EXPORTS",
    "hub_export_create",
    "hub_export_run",
    "hub_exports_sweep",
    "hub_token_set",
    "hub_token_source",
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
