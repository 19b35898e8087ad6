"""The serving estimators against the scikit-learn objects they replace."""

import numpy as np
import pytest

from engine.families.hgb import ForestServing
from registry.services import model_version_load
from tests.inference.models import register

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("n_rows", [1, 3, 8, 57])
def test_forest_raw_scores_are_scikit_learns_bit_for_bit(n_rows):
    # given a registered HistGradientBoosting version and rows of its input width, some
    # values missing (NaN takes each split's learnt missing-value direction)
    fitted = model_version_load(version=register("hgb"))
    sk = fitted.estimator.estimator
    rng = np.random.default_rng(n_rows)
    X = rng.normal(size=(n_rows, sk.n_features_in_))
    X[rng.random(X.shape) < 0.2] = np.nan
    forest = ForestServing(fitted.estimator)

    # when both score them (the few-rows and the eight-in-step walks, float64 and float32)
    ours = forest.raw_scores(X)
    theirs = sk._raw_predict(X)
    ours32 = forest.raw_scores(X.astype(np.float32))
    theirs32 = sk._raw_predict(X.astype(np.float32).astype(np.float64))

    # then the raw scores are identical, not merely close
    assert np.array_equal(ours, theirs)
    assert np.array_equal(ours32, theirs32)
    assert forest.depths.max() > 1


@pytest.mark.parametrize("calibrator", ["platt", "isotonic"])
def test_serving_applies_the_versions_calibrator_as_the_loader_does(calibrator):
    # given a loaded version with a calibrator that visibly moves its probabilities
    import dataclasses

    import pandas as pd

    from engine.calibration import Calibrator
    from inference.pipeline import ServingModel
    from tests.inference.models import feature_rows

    fitted = model_version_load(version=register("logreg"))
    params = (
        {"a": 0.5, "b": 0.3}
        if calibrator == "platt"
        else {"x": [0.0, 0.3, 0.7, 1.0], "y": [0.1, 0.2, 0.5, 0.6]}
    )
    fitted = dataclasses.replace(fitted, calibrator=Calibrator(calibrator, params))
    serving = ServingModel(
        fitted, version_id=1, manifest_sha256="x", model_name="adult", version=1, max_rows=100
    )
    rows = feature_rows(20)

    # when both predict the same rows
    served = serving.score_rows(rows).proba
    loaded = fitted.predict_proba(pd.DataFrame(rows))

    # then the probabilities agree, and they are the calibrated ones
    assert np.allclose(served, loaded, atol=1e-9)
    raw = fitted.estimator.predict_proba(fitted.preprocessor.transform(pd.DataFrame(rows)))
    assert not np.allclose(served, raw, atol=1e-3)
