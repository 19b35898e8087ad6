"""The deployable model: preprocessing + estimator + labels + decision threshold."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.calibration import Calibrator
from engine.families import FittedEstimator
from engine.metrics import predict_indices
from engine.preprocess import TabularPreprocessor


@dataclass
class FittedModel:
    """Raw feature columns in, probabilities or labels out.

    `threshold` applies to binary problems only: a row is class_labels[1] when
    P(class_labels[1]) >= threshold (None means 0.5). Multiclass predictions are the argmax.
    """

    preprocessor: TabularPreprocessor
    estimator: FittedEstimator
    class_labels: list[str]
    threshold: float | None
    family: str
    params: dict
    signature: dict | None = field(default=None)
    # Fitted on the validation rows (engine.calibration); the identity for older versions.
    calibrator: Calibrator = field(default_factory=Calibrator)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, n_classes) calibrated probabilities, columns in class_labels order."""
        return self.calibrator.apply(
            self.estimator.predict_proba(self.preprocessor.transform(frame))
        )

    def predict(self, frame: pd.DataFrame) -> list[str]:
        indices = predict_indices(self.predict_proba(frame), self.threshold)
        return [self.class_labels[i] for i in indices]
