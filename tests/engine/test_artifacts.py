"""Model artifacts: written without pickle, loaded only after their checksums match."""

import ast
import json
import os
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.preprocessing import FunctionTransformer

import engine.artifacts as artifacts
import engine.families as families
from engine.artifacts import (
    ArtifactIntegrityError,
    artifacts_load,
    artifacts_verify,
    artifacts_write,
)
from engine.families import FAMILIES, adapter, set_thread_budget
from engine.metrics import choose_threshold
from engine.model import FittedModel
from engine.search import SearchConfig, fit_candidate, prepare_data
from registry.synthetic import SyntheticParams, generate

PARAMS = {
    "mlp": {
        "depth": 2,
        "width": 16,
        "dropout": 0.1,
        "lr": 1e-2,
        "weight_decay": 1e-5,
        "batch_size": 64,
    },
    "hgb": {
        "learning_rate": 0.1,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 5,
        "l2_regularization": 1e-3,
        "max_iter": 20,
    },
    "logreg": {"C": 1.0},
}


@pytest.fixture(autouse=True, scope="module")
def _one_training_thread():
    set_thread_budget(1)
    yield
    set_thread_budget(None)


def _model(family: str, n_classes: int = 2) -> tuple[FittedModel, object]:
    frame = generate(SyntheticParams(rows=300, n_classes=n_classes, seed=2))
    # A missing cell and an unseen category in the rows scored later.
    frame.loc[3, "x0"] = np.nan
    config = SearchConfig(target="label", max_epochs=3, seed=1)
    prepared = prepare_data(frame, config, columns=[])
    estimator = fit_candidate(
        prepared, config, family=family, imbalance="class_weight", params=PARAMS[family]
    )
    threshold = (
        choose_threshold(prepared.y_val, estimator.predict_proba(prepared.X_val))
        if n_classes == 2
        else None
    )
    model = FittedModel(
        preprocessor=prepared.preprocessor,
        estimator=estimator,
        class_labels=prepared.class_labels,
        threshold=threshold,
        family=family,
        params=PARAMS[family],
        signature=prepared.signature,
    )
    rows = frame.drop(columns=["label"]).head(40).copy()
    rows.loc[rows.index[0], "channel"] = "carrier-pigeon"
    return model, rows


def _expected(written: dict) -> dict[str, str]:
    return {name: info["sha256"] for name, info in written["files"].items()}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_write_then_load_predicts_identically(tmp_path, family, n_classes):
    # given a fitted model of the family
    model, rows = _model(family, n_classes)

    # when it is written and loaded back
    written = artifacts_write(
        tmp_path / "v1",
        model=model,
        manifest_extra={"signature": model.signature, "model_version": 1},
    )
    loaded = artifacts_load(tmp_path / "v1", expected=_expected(written))

    # then the loaded model gives exactly the same probabilities and labels
    assert np.array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    assert loaded.predict(rows) == model.predict(rows)
    assert loaded.class_labels == model.class_labels
    assert loaded.threshold == model.threshold
    assert loaded.family == family
    # and the files are the family's, with no pickle among them
    names = set(written["files"])
    model_files = set(adapter(family).file_names)
    assert names == {"manifest.json", "preprocessor.json", "calibration.json"} | model_files
    assert written["size_bytes"] == sum(f["bytes"] for f in written["files"].values())
    assert written["manifest_sha256"] == written["files"]["manifest.json"]["sha256"]
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    assert manifest["format"] == "modelyard/1"
    assert manifest["model_version"] == 1
    assert manifest["signature"]["target"] == "label"
    versions = {"python", "torch", "sklearn", "numpy", "pandas", "optuna", "skops", "safetensors"}
    assert set(manifest["library_versions"]) == versions
    assert manifest["files"] == {
        n: s for n, s in _expected(written).items() if n != "manifest.json"
    }
    # and the write left no temporary directory behind
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]


@pytest.mark.parametrize("family", ["hgb", "logreg"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_trusted_skops_types_cover_what_we_write(tmp_path, family, n_classes):
    # given a written scikit-learn model
    model, _ = _model(family, n_classes)
    artifacts_write(tmp_path / "v", model=model, manifest_extra={})

    # when skops lists the types it would not load by default
    untrusted = skops.io.get_untrusted_types(file=tmp_path / "v" / "model.skops")

    # then every one of them is on the family's explicit trusted list
    assert set(untrusted) <= set(adapter(family).trusted_skops_types)


@pytest.mark.parametrize(
    "name", ["model.safetensors", "architecture.json", "preprocessor.json", "calibration.json"]
)
def test_one_flipped_byte_is_caught_and_named(tmp_path, name):
    # given a written MLP model
    model, _ = _model("mlp")
    written = artifacts_write(tmp_path / "v", model=model, manifest_extra={})
    path = tmp_path / "v" / name
    data = bytearray(path.read_bytes())

    # when one byte of a file changes
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    # then verifying and loading both refuse, naming the file and the problem
    with pytest.raises(ArtifactIntegrityError, match=rf"{name}: checksum mismatch"):
        artifacts_verify(tmp_path / "v", expected=_expected(written))
    with pytest.raises(ArtifactIntegrityError, match=name):
        artifacts_load(tmp_path / "v", expected=_expected(written))


def test_missing_and_unexpected_files_are_named(tmp_path):
    # given a written logistic regression model
    model, _ = _model("logreg")
    written = artifacts_write(tmp_path / "v", model=model, manifest_extra={})
    expected = _expected(written)

    # when a file is added, then it is named as unexpected
    (tmp_path / "v" / "extra.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(ArtifactIntegrityError, match=r"extra.pkl: unexpected"):
        artifacts_verify(tmp_path / "v", expected=expected)
    (tmp_path / "v" / "extra.pkl").unlink()

    # when a file is missing, then it is named as missing
    (tmp_path / "v" / "model.skops").unlink()
    with pytest.raises(ArtifactIntegrityError, match=r"model.skops: missing"):
        artifacts_load(tmp_path / "v", expected=expected)

    # and a directory that is not there at all is reported as such
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        artifacts_verify(tmp_path / "nowhere", expected=expected)


def test_expected_checksums_must_include_the_manifest(tmp_path):
    model, _ = _model("logreg")
    written = artifacts_write(tmp_path / "v", model=model, manifest_extra={})
    expected = _expected(written)
    del expected["manifest.json"]

    with pytest.raises(ArtifactIntegrityError, match="manifest.json"):
        artifacts_load(tmp_path / "v", expected=expected)


def _replace_skops(directory: Path, obj) -> dict[str, str]:
    """Swap model.skops for `obj` and re-sign everything, as an attacker with write access to
    both the files and the registry's checksums could."""
    skops.io.dump(obj, directory / "model.skops")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"]["model.skops"] = artifacts._sha256((directory / "model.skops").read_bytes())
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return {p.name: artifacts._sha256(p.read_bytes()) for p in directory.iterdir()}


def test_a_skops_file_with_an_untrusted_type_is_refused(tmp_path):
    # given an artifact whose model.skops holds a transformer calling os.system, with
    # checksums that match
    model, rows = _model("hgb")
    artifacts_write(tmp_path / "v", model=model, manifest_extra={})
    expected = _replace_skops(tmp_path / "v", FunctionTransformer(func=os.system))

    # when loaded, then the untrusted type is named and nothing is loaded
    with pytest.raises(ArtifactIntegrityError, match=r"model.skops: .*posix.system"):
        artifacts_load(tmp_path / "v", expected=expected)


def test_a_skops_file_of_the_wrong_estimator_is_refused(tmp_path):
    # given an hgb artifact whose model.skops holds a logistic regression instead
    model, _ = _model("hgb")
    other, _ = _model("logreg")
    artifacts_write(tmp_path / "v", model=model, manifest_extra={})
    expected = _replace_skops(tmp_path / "v", other.estimator.estimator)

    # when loaded, then it is refused
    with pytest.raises(ArtifactIntegrityError, match="LogisticRegression"):
        artifacts_load(tmp_path / "v", expected=expected)


def test_skops_is_only_loaded_with_the_explicit_trusted_list():
    # given the syntax tree of every module that reads or writes model files
    sources = [Path(artifacts.__file__)] + sorted(Path(families.__file__).parent.glob("*.py"))
    tree = ast.Module(
        body=[node for path in sources for node in ast.parse(path.read_text()).body],
        type_ignores=[],
    )

    # when every skops load call is collected
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("load", "loads")
        and ast.unparse(node.func.value) in ("skops.io", "skops_io", "skops", "skops_io()")
    ]

    # then there is one, and it passes the adapter's list (never True)
    assert len(calls) == 1
    (trusted,) = [k.value for k in calls[0].keywords if k.arg == "trusted"]
    assert ast.unparse(trusted) == "trusted"
    # and nothing in them imports pickle or joblib
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert not imported & {"pickle", "joblib", "cloudpickle", "dill"}


def test_an_existing_version_is_never_overwritten(tmp_path):
    # given a written version
    model, _ = _model("logreg")
    artifacts_write(tmp_path / "v", model=model, manifest_extra={})
    before = {p.name: p.read_bytes() for p in (tmp_path / "v").iterdir()}

    # when written again to the same directory, then it refuses and leaves the files as they were
    with pytest.raises(FileExistsError):
        artifacts_write(tmp_path / "v", model=model, manifest_extra={"x": 1})
    assert {p.name: p.read_bytes() for p in (tmp_path / "v").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["v"]


def test_manifest_extra_cannot_replace_reserved_keys(tmp_path):
    model, _ = _model("logreg")
    with pytest.raises(ValueError, match="files"):
        artifacts_write(tmp_path / "v", model=model, manifest_extra={"files": {}})
    assert not (tmp_path / "v").exists()
