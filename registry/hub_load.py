"""Load this exported Modelyard model without Modelyard: numpy, plus skops (logistic
regression, gradient boosting) or safetensors (MLP). No pickle anywhere.

    from load import load
    model = load(".")                       # verifies every file's sha256 first
    model.predict_proba([{"age": 39, ...}])  # (n, K) probabilities, classes in model.classes
    model.predict([{"age": 39, ...}])        # labels

Rows are dicts with every input feature (None for a missing value), as the platform's
predict API takes them; input_example.json holds some. The preprocessing (standardised
numbers with the training median for missing ones, one-hot categories with a missing column,
unseen categories all zeros), the model and the calibration are the platform's, so the
probabilities are its probabilities.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ExportedModel:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "manifest.json").read_text())
        for name, expected in self.manifest["files"].items():
            found = _sha256(self.folder / name)
            if found != expected:
                raise ValueError(f"{name}: sha256 {found} is not the manifest's {expected}")
        self.classes = list(self.manifest["class_labels"])
        self.threshold = self.manifest.get("threshold")
        self.family = self.manifest["family"]
        self.features = json.loads((self.folder / "preprocessor.json").read_text())["features"]
        calibration = self.folder / "calibration.json"
        self.calibration = json.loads(calibration.read_text()) if calibration.exists() else {}
        self._scores = self._load_family()

    # -- preprocessing -------------------------------------------------------------------

    def transform(self, rows: list[dict]) -> np.ndarray:
        columns = []
        for f in self.features:
            values = [row.get(f["name"]) for row in rows]
            if f["kind"] == "numeric":
                x = np.array([math.nan if v is None else float(v) for v in values])
                x = np.where(np.isnan(x), f["median"], x)
                columns.append(((x - f["mean"]) / f["std"])[:, None])
            elif f["kind"] == "boolean":
                x = np.array(
                    [
                        f["mode"] if v is None else float(str(v).lower() in ("1", "true", "1.0"))
                        for v in values
                    ]
                )
                columns.append(x[:, None])
            else:
                categories = {c: i for i, c in enumerate(f["categories"])}
                block = np.zeros((len(rows), len(categories) + 1))
                for i, v in enumerate(values):
                    if v is None:
                        block[i, len(categories)] = 1.0  # the missing indicator
                    elif str(v) in categories:
                        block[i, categories[str(v)]] = 1.0
                columns.append(block)  # an unseen category stays all zeros
        return np.hstack(columns).astype(np.float32)

    # -- the family ------------------------------------------------------------------------

    def _load_family(self):
        if self.family == "mlp":
            from safetensors.numpy import load_file

            weights = load_file(self.folder / "model.safetensors")
            indices = sorted({int(k.split(".")[1]) for k in weights if k.endswith(".weight")})
            layers = [
                (
                    weights[f"layers.{i}.weight"].T.astype(np.float64),
                    weights[f"layers.{i}.bias"].astype(np.float64),
                )
                for i in indices
            ]

            def scores(X):
                h = X.astype(np.float64)
                for j, (w, b) in enumerate(layers):
                    h = h @ w + b
                    if j < len(layers) - 1:
                        h = np.maximum(h, 0.0)
                e = np.exp(h - h.max(axis=1, keepdims=True))
                return e / e.sum(axis=1, keepdims=True)

            return scores
        from skops import io as skops_io

        path = self.folder / "model.skops"
        untrusted = skops_io.get_untrusted_types(file=path)
        outside = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
        if outside:
            raise ValueError(f"model.skops holds types outside scikit-learn: {outside}")
        estimator = skops_io.load(path, trusted=untrusted)

        def scores(X):
            raw = estimator.predict_proba(X)
            full = np.zeros((len(X), len(self.classes)))
            full[:, np.asarray(estimator.classes_, dtype=int)] = raw
            return full / full.sum(axis=1, keepdims=True)

        return scores

    # -- calibration and prediction --------------------------------------------------------

    def _calibrate(self, proba: np.ndarray) -> np.ndarray:
        method = self.calibration.get("method", "none")
        params = self.calibration.get("params") or {}
        if method == "none":
            return proba
        if method == "temperature":
            z = np.log(np.clip(proba, 1e-15, 1.0)) / params["temperature"]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        p1 = proba[:, 1].astype(np.float64)
        if method == "platt":
            p1 = np.clip(p1, 1e-15, 1 - 1e-15)
            z = params["a"] * np.log(p1 / (1.0 - p1)) + params["b"]
            q1 = 1.0 / (1.0 + np.exp(-np.clip(z, -700.0, 700.0)))
        else:  # isotonic
            q1 = np.interp(p1, np.asarray(params["x"], float), np.asarray(params["y"], float))
        q1 = np.clip(q1, 1e-6, 1.0 - 1e-6)
        return np.column_stack([1.0 - q1, q1])

    def predict_proba(self, rows: list[dict]) -> np.ndarray:
        return self._calibrate(self._scores(self.transform(rows)))

    def predict(self, rows: list[dict]) -> list[str]:
        proba = self.predict_proba(rows)
        if len(self.classes) == 2 and self.threshold is not None:
            picked = (proba[:, 1] >= self.threshold).astype(int)
        else:
            picked = proba.argmax(axis=1)
        return [self.classes[i] for i in picked]


def load(folder: str | Path = ".") -> ExportedModel:
    return ExportedModel(folder)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    model = load(here)
    example = json.loads((here / "input_example.json").read_text())
    for row, label in zip(example, model.predict(example), strict=True):
        print(label, row)
