"""Resampling and preprocessing never see validation or test rows.

The split is deterministic, so the test knows the validation and test rows in advance and
plants values there that would show in every fitted statistic if those rows leaked.
"""

import numpy as np
import pandas as pd
import pytest

from engine import imbalance, search
from engine.search import SearchConfig, create_study, prepare_data, run_trials
from engine.split import split_indices
from engine.values import label_strings

COLUMNS = [
    {"name": "a", "kind": "numeric", "flags": []},
    {"name": "b", "kind": "numeric", "flags": []},
    {"name": "shop", "kind": "categorical", "flags": []},
    {"name": "vip", "kind": "boolean", "flags": []},
    {"name": "y", "kind": "categorical", "flags": []},
]


def _frame_with_planted_holdout(config: SearchConfig) -> tuple[pd.DataFrame, set[int]]:
    """300 rows (a few unlabelled), with huge numbers and an unseen shop in the rows the
    split will hold out."""
    rng = np.random.default_rng(11)
    n = 300
    y = np.where(rng.random(n) < 0.25, "yes", "no").astype(object)
    y[[5, 77, 150]] = None
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "shop": rng.choice(["north", "south", "east"], size=n),
            "vip": rng.choice(["t", "f"], size=n),
            "y": y,
        }
    )
    labelled = np.flatnonzero(frame["y"].notna())
    _, va, te = split_indices(
        label_strings(frame["y"]).to_numpy(),
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    holdout = labelled[np.concatenate([va, te])]
    frame.loc[holdout, "a"] = 1e6
    frame.loc[holdout, "shop"] = "holdout-only"
    return frame, set(holdout.tolist())


def _fingerprints(X: np.ndarray) -> set[tuple]:
    return {tuple(np.round(row, 9)) for row in X}


def test_split_indices_are_disjoint_and_cover_the_labelled_rows():
    # given a frame with three unlabelled rows
    config = SearchConfig(target="y", seed=2)
    frame, _ = _frame_with_planted_holdout(config)

    # when the data is prepared
    prepared = prepare_data(frame, config, columns=COLUMNS)

    # then train, validation and test are disjoint and together are exactly the labelled rows
    parts = [set(prepared.train_idx), set(prepared.val_idx), set(prepared.test_idx)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert parts[0] | parts[1] | parts[2] == set(np.flatnonzero(frame["y"].notna()))
    assert {5, 77, 150}.isdisjoint(parts[0] | parts[1] | parts[2])


def test_preprocessing_is_fitted_on_training_rows_only():
    # given held-out rows carrying a = 1e6 and a shop no training row has
    config = SearchConfig(target="y", seed=2)
    frame, holdout = _frame_with_planted_holdout(config)

    # when the data is prepared
    prepared = prepare_data(frame, config, columns=COLUMNS)

    # then the split held out exactly the planted rows
    assert set(prepared.val_idx) | set(prepared.test_idx) == holdout
    # and the fitted statistics equal those of the training rows alone
    train = frame.iloc[prepared.train_idx]
    a, b, shop, _ = prepared.preprocessor.features
    assert a["mean"] == pytest.approx(train["a"].mean())
    assert a["median"] == pytest.approx(train["a"].median())
    assert a["std"] == pytest.approx(train["a"].std(ddof=0))
    assert b["mean"] == pytest.approx(train["b"].mean())
    assert shop["categories"] == ["east", "north", "south"]
    assert a["mean"] < 10  # the planted 1e6 would dominate a leaked mean
    # and so does the signature
    features = {f["name"]: f for f in prepared.signature["features"]}
    assert features["a"]["max"] < 10
    assert "holdout-only" not in features["shop"]["categories"]
    # and the held-out rows' unseen shop encodes as all zeros (unknown)
    shop_block = [i for i, n in enumerate(prepared.preprocessor.feature_names_out) if "shop=" in n]
    assert not prepared.X_val[:, shop_block].any()


@pytest.mark.parametrize("family", ["logreg", "mlp"])
def test_resampler_and_models_get_training_rows_only(monkeypatch, family):
    # given a spy on SMOTENC and on fit_model
    config = SearchConfig(
        target="y", families=[family], imbalance=["smote"], n_trials=1, max_epochs=2, seed=2
    )
    frame, _ = _frame_with_planted_holdout(config)
    prepared = prepare_data(frame, config, columns=COLUMNS)
    seen_by_smote: list[np.ndarray] = []
    seen_by_model: list[np.ndarray] = []

    class SpySMOTENC(imbalance.SMOTENC):
        def fit_resample(self, X, y, **kwargs):
            seen_by_smote.append(np.array(X, copy=True))
            return super().fit_resample(X, y, **kwargs)

    real_fit_model = search.fit_model

    def spy_fit_model(family, params, X_train, *args, **kwargs):
        seen_by_model.append(np.array(X_train, copy=True))
        return real_fit_model(family, params, X_train, *args, **kwargs)

    monkeypatch.setattr(imbalance, "SMOTENC", SpySMOTENC)
    monkeypatch.setattr(search, "fit_model", spy_fit_model)

    # when a trial runs with SMOTE
    study = create_study(config)
    run_trials(prepared, config, study=study, n_trials=1)

    # then SMOTENC received exactly the encoded training rows
    assert study.trials[0].state.name == "COMPLETE", study.trials[0].user_attrs
    (smote_input,) = seen_by_smote
    encoder = prepared.preprocessor
    train_rows = encoder.encode(frame.iloc[prepared.train_idx])
    held_out = encoder.encode(frame.iloc[np.concatenate([prepared.val_idx, prepared.test_idx])])
    assert np.array_equal(smote_input, train_rows)
    assert _fingerprints(smote_input).isdisjoint(_fingerprints(held_out))
    # and the model's training rows are the expanded training rows plus synthetic ones, none
    # of them a held-out row
    (model_input,) = seen_by_model
    assert len(model_input) > len(train_rows)
    assert np.array_equal(model_input[: len(train_rows)], encoder.expand(train_rows))
    assert _fingerprints(model_input).isdisjoint(_fingerprints(encoder.expand(held_out)))
