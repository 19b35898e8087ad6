"""One adapter per model family: the search, the artifact files and serving go through it,
so a family registered in `engine.families.ADAPTERS` alone trains, writes, loads and serves."""

import numpy as np
import optuna
import pytest

import engine.families as families
from engine import vocabulary
from engine.artifacts import ArtifactIntegrityError, artifacts_load, artifacts_write
from engine.families import (
    ADAPTERS,
    FAMILIES,
    FamilyAdapter,
    SklearnEstimator,
    adapter,
    serving_kernel,
    suggest_params,
)
from engine.families.skops_files import SkopsAdapter
from engine.model import FittedModel
from engine.search import SearchConfig, fit_candidate, prepare_data
from registry.synthetic import SyntheticParams, generate
from tests.engine.test_families import PARAMS, _data, _fit


def test_every_family_has_one_adapter_and_the_vocabulary_lists_them():
    # given the registered adapters
    # then each is a FamilyAdapter under its own name, with a label and its files named
    assert FAMILIES == ("mlp", "hgb", "logreg")
    for name, family_adapter in ADAPTERS.items():
        assert isinstance(family_adapter, FamilyAdapter)
        assert family_adapter.name == name
        assert family_adapter.label and family_adapter.file_names
    # and the vocabulary's choices are the adapters', in the same order
    assert [(c.name, c.label) for c in vocabulary.FAMILIES] == [
        (a.name, a.label) for a in ADAPTERS.values()
    ]


def test_an_unknown_family_is_a_value_error_naming_the_choices():
    with pytest.raises(ValueError, match=r"'forest'.*mlp, hgb, logreg"):
        adapter("forest")
    with pytest.raises(ValueError, match="Unknown model family"):
        serving_kernel(
            SklearnEstimator(family="forest", estimator=None, params={}, curve=[], n_classes=2)
        )


@pytest.mark.parametrize("family", FAMILIES)
def test_a_search_space_is_sampled_under_family_prefixed_names(family):
    # when a trial samples the family's space
    trial = optuna.create_study().ask()
    params = suggest_params(trial, family, n_features=4)

    # then the returned names are bare and the trial's carry the family prefix
    assert set(params) == set(PARAMS[family])
    assert all(name.startswith(f"{family}_") for name in trial.params)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_files_load_and_serving_kernel_agree_with_the_fitted_estimator(family, n_classes):
    # given a fitted estimator of the family
    X, y = _data(150, n_classes)
    Xv, yv = _data(60, n_classes, seed=1)
    fitted = _fit(family, PARAMS[family], X, y, Xv, yv)
    family_adapter = adapter(family)

    # when its files are written, loaded back and compiled for serving
    files = family_adapter.files(fitted)
    labels = [f"c{i}" for i in range(n_classes)]
    loaded = family_adapter.load(files, params=PARAMS[family], class_labels=labels)
    kernel = serving_kernel(loaded)

    # then it wrote exactly its declared files and all three give the same probabilities
    assert set(files) == set(family_adapter.file_names)
    expected = fitted.predict_proba(Xv)
    assert np.array_equal(loaded.predict_proba(Xv), expected)
    assert np.allclose(kernel.predict_proba(Xv), expected, atol=1e-6)
    # and a file the family needs, if missing, is named
    missing = sorted(files)[0]
    with pytest.raises(ArtifactIntegrityError, match=f"{missing}: missing"):
        family_adapter.load(
            {k: v for k, v in files.items() if k != missing},
            params=PARAMS[family],
            class_labels=labels,
        )


class NaiveBayesAdapter(SkopsAdapter):
    """A family the platform does not ship: Gaussian naive Bayes, defined in this test only."""

    name = "gnb"
    label = "Gaussian naive Bayes"

    def estimator_class(self) -> type:
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB

    def suggest_params(self, trial, n_features):
        return {"var_smoothing": trial.suggest_float("gnb_var_smoothing", 1e-12, 1e-6, log=True)}

    def fit(self, params, X_train, y_train, X_val, y_val, *, n_classes, **_):
        model = self.estimator_class()(var_smoothing=params["var_smoothing"]).fit(X_train, y_train)
        return SklearnEstimator(
            family=self.name, estimator=model, params=dict(params), curve=[], n_classes=n_classes
        )

    def serving(self, estimator):
        return estimator  # scikit-learn's own predict_proba

    def explainer(self, estimator, background):
        raise NotImplementedError("not explained in this test")


def test_a_new_family_needs_only_its_adapter(tmp_path, monkeypatch):
    # given a family registered in ADAPTERS and nowhere else
    monkeypatch.setitem(families.ADAPTERS, "gnb", NaiveBayesAdapter())
    frame = generate(SyntheticParams(rows=200, n_classes=2, seed=3))
    config = SearchConfig(target="label", seed=1)
    prepared = prepare_data(frame, config, columns=[])

    # when it is fitted, written as a version, loaded back and served
    estimator = fit_candidate(
        prepared, config, family="gnb", imbalance="none", params={"var_smoothing": 1e-9}
    )
    model = FittedModel(
        preprocessor=prepared.preprocessor,
        estimator=estimator,
        class_labels=prepared.class_labels,
        threshold=None,
        family="gnb",
        params={"var_smoothing": 1e-9},
        signature=prepared.signature,
    )
    written = artifacts_write(tmp_path / "v", model=model, manifest_extra={})
    expected = {name: info["sha256"] for name, info in written["files"].items()}
    loaded = artifacts_load(tmp_path / "v", expected=expected)
    kernel = serving_kernel(loaded.estimator)

    # then every step went through the adapter and the predictions survive the round trip
    assert set(written["files"]) == {
        "manifest.json",
        "preprocessor.json",
        "calibration.json",
        "model.skops",
    }
    assert loaded.family == "gnb"
    assert np.array_equal(
        kernel.predict_proba(prepared.X_val), estimator.predict_proba(prepared.X_val)
    )
