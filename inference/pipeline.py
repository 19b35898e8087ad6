"""A registered version compiled for serving: validate, encode, expand, predict.

Built once per process per version (see `inference.serving.cache`) from the registry loader's
`FittedModel`, whose checksums were verified on the way in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.families import serving_kernel
from engine.metrics import predict_indices
from engine.model import FittedModel
from inference.validation import RowEncoder


@dataclass
class Scored:
    """The answer for a batch, in request order."""

    proba: np.ndarray  # (n, K) float64
    labels: list[str]
    unknown: list[list[str]]  # per row, features holding a category training never saw
    _dicts: list[dict] | None = field(default=None, repr=False, compare=False)

    def probability_dicts(self, class_labels: list[str]) -> list[dict]:
        """Per row {class label: probability}, made once for the answer and the log."""
        if self._dicts is None:
            self._dicts = [dict(zip(class_labels, row, strict=True)) for row in self.proba.tolist()]
        return self._dicts


class ServingModel:
    def __init__(
        self,
        model: FittedModel,
        *,
        version_id: int,
        manifest_sha256: str,
        model_name: str,
        version: int,
        max_rows: int,
        reference: Callable[[], object] | None = None,
    ):
        self.version_id = version_id
        self.manifest_sha256 = manifest_sha256
        self.model_name = model_name
        self.version = version
        self.family = model.family
        self.class_labels = list(model.class_labels)
        self.threshold = model.threshold
        self.signature = model.signature or {}
        self.preprocessor = model.preprocessor
        self.encoder = RowEncoder(model.preprocessor, max_rows=max_rows)
        self.estimator = serving_kernel(model.estimator)
        self.calibrator = model.calibrator
        self.feature_names = self.encoder.names
        # Explanations (engine.explain) need the fitted estimator and, for some families, the
        # reference sample: built on the first explain request, kept while the version is.
        self._model = model
        self._reference = reference
        self._explainer = None
        self._explainer_lock = threading.Lock()
        # Warm the estimator (numba loads its compiled kernel on the first call), so the first
        # real request does not pay for it.
        self.predict_encoded(np.zeros((1, len(self.feature_names))))

    @property
    def numeric_only(self) -> bool:
        return all(kind == "numeric" for kind in self.encoder.kinds.values())

    def predict_encoded(self, encoded: np.ndarray) -> tuple[np.ndarray, list[str]]:
        proba = self.calibrator.apply(
            self.estimator.predict_proba(self.preprocessor.expand(encoded))
        )
        labels = self.class_labels
        return proba, [labels[i] for i in predict_indices(proba, self.threshold).tolist()]

    def score_rows(self, instances) -> Scored:
        """Row objects in (REST `instances`, V2 rows); raises RequestError."""
        columns = self.encoder.columns_from_rows(instances)
        return self.score_columns(columns, len(instances))

    def score_columns(self, columns: dict, n_rows: int) -> Scored:
        """One list (or float array) per feature; raises RequestError."""
        expanded, unknown = self.encoder.encode_expanded(columns, n_rows)
        proba = self.calibrator.apply(self.estimator.predict_proba(expanded))
        labels = self.class_labels
        predicted = [labels[i] for i in predict_indices(proba, self.threshold).tolist()]
        return Scored(proba=proba, labels=predicted, unknown=unknown)

    def explainer(self):
        """The family's explainer, built once (the reference sample read then)."""
        with self._explainer_lock:
            if self._explainer is None:
                from engine.explain import model_explainer

                if self._reference is None:
                    raise ValueError(f"{self.model_name} v{self.version} has no reference sample.")
                self._explainer = model_explainer(self._model, self._reference())
            return self._explainer

    def explain_rows(self, instances) -> tuple[Scored, object]:
        """Score and explain row objects (validated as for predict; RequestError): each row
        for the class it is predicted as (engine.explain.Explanation)."""
        from engine.explain import explain

        columns = self.encoder.columns_from_rows(instances)
        expanded, unknown = self.encoder.encode_expanded(columns, len(instances))
        proba = self.calibrator.apply(self.estimator.predict_proba(expanded))
        indices = predict_indices(proba, self.threshold)
        labels = self.class_labels
        scored = Scored(proba=proba, labels=[labels[i] for i in indices.tolist()], unknown=unknown)
        return scored, explain(self.explainer(), expanded, self.preprocessor.groups, indices)
