"""Real trained models for serving tests: a tiny search per family, registered per test."""

from __future__ import annotations

import functools

import pandas as pd

from core.csvfiles import profile_frame, read_frame
from engine.search import SearchConfig, SearchResult, run_search
from registry.builtin import ADULT_PATH
from registry.models import Dataset, ModelVersion
from registry.services import model_version_register
from tests.training.adult_sample import adult_sample_dataset


@functools.cache
def adult_rows() -> pd.DataFrame:
    """3,000 real Adult rows (features and target)."""
    frame = read_frame(ADULT_PATH, ",").drop(columns=["split"])
    return frame.sample(n=3000, random_state=7).reset_index(drop=True)


@functools.cache
def trained(family: str) -> SearchResult:
    """One trial of `family` on the Adult rows, trained once per test session."""
    frame = adult_rows()
    config = SearchConfig(
        target="income", families=[family], imbalance=["none"], n_trials=1, max_epochs=3, seed=0
    )
    return run_search(frame, config, columns=profile_frame(frame))


def register(family: str = "hgb", *, name: str = "adult", dataset: Dataset | None = None):
    """Register the trained `family` model as the next version of `name` (the first one is
    promoted to production automatically)."""
    dataset = dataset or Dataset.objects.first() or adult_sample_dataset(rows=500)
    return model_version_register(model_name=name, dataset=dataset, result=trained(family))


def feature_rows(n: int, *, start: int = 0) -> list[dict]:
    """JSON-ready feature rows (NaN → None), as a client sends them."""
    frame = adult_rows().drop(columns=["income"]).iloc[start : start + n]
    return [
        {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]


def production(name: str = "adult") -> ModelVersion:
    return ModelVersion.objects.get(registered_model__name=name, stage="production")


@functools.cache
def trained_numeric() -> SearchResult:
    """A logistic regression on Adult's numeric columns only (for V2 tensor requests)."""
    frame = adult_rows()[
        ["age", "fnlwgt", "education_num", "capital_gain", "hours_per_week", "income"]
    ]
    frame = frame.dropna()
    config = SearchConfig(
        target="income", families=["logreg"], imbalance=["none"], n_trials=1, seed=0
    )
    return run_search(frame, config, columns=profile_frame(frame))


def register_numeric(name: str = "adult-numeric"):
    dataset = Dataset.objects.first() or adult_sample_dataset(rows=500)
    return model_version_register(model_name=name, dataset=dataset, result=trained_numeric())
