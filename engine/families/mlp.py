"""Multi-layer perceptron (PyTorch): Linear → ReLU → Dropout blocks, early stopping.

PyTorch lives in `engine.families.mlp_torch`, imported inside the methods below: a process
that never fits or loads an MLP (a web worker serving gradient boosting) never imports it.
Files: model.safetensors (weights; safetensors' own parser, no code, no pickle) and
architecture.json (in_features, hidden, dropout, n_classes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from engine.errors import ArtifactIntegrityError
from engine.families.base import (
    FamilyAdapter,
    FittedEstimator,
    required,
    single_threaded_blas,
    softmax,
)
from engine.values import json_safe

WEIGHTS = "model.safetensors"
ARCHITECTURE = "architecture.json"


class MLPServing:
    """float32 weight matrices with ReLU between them (dropout is off at inference)."""

    def __init__(self, estimator):  # mlp_torch.MLPEstimator; torch itself is not imported here
        single_threaded_blas()
        linears = [m for m in estimator.network.layers if hasattr(m, "weight")]
        self.layers = [
            (
                np.ascontiguousarray(m.weight.detach().cpu().numpy().T, dtype=np.float32),
                m.bias.detach().cpu().numpy().astype(np.float32),
            )
            for m in linears
        ]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        h = np.asarray(X, dtype=np.float32)
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < last:
                np.maximum(h, 0.0, out=h)
        proba = softmax(h.astype(np.float64))
        return proba / proba.sum(axis=1, keepdims=True)


class MLPAdapter(FamilyAdapter):
    name = "mlp"
    label = "MLP (PyTorch)"
    file_names = (WEIGHTS, ARCHITECTURE)

    def suggest_params(self, trial, n_features: int) -> dict:
        return {
            "depth": trial.suggest_int("mlp_depth", 1, 4),
            "width": trial.suggest_int("mlp_width", 16, 512, log=True),
            "dropout": trial.suggest_float("mlp_dropout", 0.0, 0.5),
            "lr": trial.suggest_float("mlp_lr", 1e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("mlp_weight_decay", 1e-6, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("mlp_batch_size", [64, 128, 256, 512]),
        }

    def fit(
        self,
        params,
        X_train,
        y_train,
        X_val,
        y_val,
        *,
        n_classes,
        class_weight,
        seed,
        report,
        should_stop,
        max_epochs,
    ) -> FittedEstimator:
        from engine.families.mlp_torch import fit_mlp

        return fit_mlp(
            params,
            X_train,
            y_train,
            X_val,
            y_val,
            n_classes=n_classes,
            class_weight=class_weight,
            seed=seed,
            report=report,
            should_stop=should_stop,
            max_epochs=max_epochs,
        )

    def files(self, estimator: FittedEstimator) -> dict[str, bytes]:
        import safetensors.torch

        from engine.families.mlp_torch import MLPEstimator

        if not isinstance(estimator, MLPEstimator):
            raise TypeError(f"A family 'mlp' model needs an MLPEstimator, not {type(estimator)}.")
        architecture = json.dumps(
            json_safe(estimator.architecture), indent=2, sort_keys=True, allow_nan=False
        )
        return {
            WEIGHTS: safetensors.torch.save(estimator.weights()),
            ARCHITECTURE: (architecture + "\n").encode(),
        }

    def load(
        self, files: Mapping[str, bytes], *, params: dict, class_labels: list[str]
    ) -> FittedEstimator:
        from safetensors.torch import load as safetensors_from_bytes

        from engine.families.mlp_torch import MLPEstimator

        architecture = json.loads(required(files, ARCHITECTURE, self.name))
        if int(architecture["n_classes"]) != len(class_labels):
            raise ArtifactIntegrityError(
                f"{ARCHITECTURE}: {architecture['n_classes']} outputs for "
                f"{len(class_labels)} class labels."
            )
        # safetensors' own parser: tensors only, no code, no pickle.
        weights = safetensors_from_bytes(required(files, WEIGHTS, self.name))
        try:
            return MLPEstimator.from_weights(
                architecture=architecture, weights=weights, params=params
            )
        except RuntimeError as exc:  # state dict does not fit the architecture
            raise ArtifactIntegrityError(
                f"{WEIGHTS}: does not match {ARCHITECTURE}: {exc}"
            ) from exc

    def serving(self, estimator: FittedEstimator) -> MLPServing:
        return MLPServing(estimator)

    def explainer(self, estimator: FittedEstimator, background: np.ndarray):
        """DeepLIFT's Rescale rule on the serving weights against `background` rows
        (engine.explain.DeepLiftExplainer; why this one, there)."""
        from engine.explain import BACKGROUND_ROWS, DeepLiftExplainer

        background = np.asarray(background, dtype=np.float64)
        if len(background) > BACKGROUND_ROWS:
            picks = np.random.default_rng(0).choice(len(background), BACKGROUND_ROWS, False)
            background = background[np.sort(picks)]
        return DeepLiftExplainer(MLPServing(estimator).layers, background)


ADAPTER = MLPAdapter()
