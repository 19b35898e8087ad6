"""Versioned model artifacts on disk, without pickle.

A version directory holds:

- preprocessor.json: the fitted `TabularPreprocessor` (numpy at serving time);
- mlp: model.safetensors (weights) + architecture.json (in_features, hidden, dropout,
  n_classes); hgb / logreg: model.skops (the scikit-learn estimator, via skops.io);
- manifest.json: format, family, params, class labels, threshold, signature, the sha256 of
  every other file, library versions, and the caller's extra keys.

Loading reads each file once, checks its sha256 against the checksums the registry stored
when the version was written, and parses the very bytes it checked. skops files load only
with the explicit `TRUSTED_SKOPS_TYPES` list (never trusted=True).

No Django imports here: the registry passes paths and checksums in.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from engine.families import FAMILIES, SklearnEstimator
from engine.model import FittedModel
from engine.preprocess import TabularPreprocessor
from engine.values import json_safe

FORMAT = "modelyard/1"
MANIFEST = "manifest.json"
PREPROCESSOR = "preprocessor.json"
ARCHITECTURE = "architecture.json"
WEIGHTS = "model.safetensors"
SKOPS = "model.skops"
# Reserved manifest keys: manifest_extra may not replace them.
RESERVED_KEYS = ("format", "family", "params", "class_labels", "threshold", "files")
# Types a model.skops file may hold beyond skops' own defaults (scikit-learn estimators, numpy
# arrays and dtypes, builtins containers). Found with skops.io.get_untrusted_types on files
# written by artifacts_write for HistGradientBoostingClassifier and LogisticRegression
# (binary and multiclass); tests/registry/test_artifacts.py re-checks it.
TRUSTED_SKOPS_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
SKLEARN_CLASSES = {"hgb": HistGradientBoostingClassifier, "logreg": LogisticRegression}
LIBRARY_PACKAGES = {
    "torch": "torch",
    "sklearn": "scikit-learn",
    "numpy": "numpy",
    "pandas": "pandas",
    "optuna": "optuna",
    "skops": "skops",
    "safetensors": "safetensors",
}


def _import_skops_io():
    """skops.io, imported without dragging PyTorch in.

    On import, skops builds its default trust list from scikit-learn's `all_estimators()`,
    which walks every scikit-learn package; the walk imports
    `sklearn.externals.array_api_compat.torch`, and that imports torch whenever it is
    installed: about 300 MB and seconds of start-up in a web worker that serves gradient
    boosting (bench/webproc.py). The walk skips a package that fails to import, and that
    module holds no estimator, so it is made unimportable for the duration of this import
    only (tests/engine/test_import_boundaries.py checks the result).
    """
    blocked = "sklearn.externals.array_api_compat.torch"
    added = blocked not in sys.modules and "skops.io" not in sys.modules
    if added:
        sys.modules[blocked] = None  # an import of it raises ImportError
    try:
        import skops.io
    finally:
        if added and sys.modules.get(blocked, 0) is None:
            del sys.modules[blocked]
    return skops.io


skops_io = _import_skops_io()


class ArtifactIntegrityError(Exception):
    """An artifact file is missing, differs from its recorded checksum, is unexpected, or
    holds something it must not. The message names the file."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(data: dict) -> bytes:
    return (json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def library_versions() -> dict[str, str]:
    """Versions of the libraries a version was built with, read from the installed packages'
    metadata: importing torch or optuna just to read their version would load them into
    every process that writes or describes a version."""
    versions = {"python": platform.python_version()}
    for key, package in LIBRARY_PACKAGES.items():
        try:
            versions[key] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[key] = "not installed"
    return versions


def _model_files(model: FittedModel) -> dict[str, bytes]:
    files = {PREPROCESSOR: _json_bytes(model.preprocessor.to_dict())}
    if model.family == "mlp":
        import safetensors.torch  # torch: only for an MLP

        from engine.mlp import MLPEstimator

        estimator = model.estimator
        if not isinstance(estimator, MLPEstimator):
            raise TypeError(f"A family 'mlp' model needs an MLPEstimator, not {type(estimator)}.")
        files[WEIGHTS] = safetensors.torch.save(estimator.weights())
        files[ARCHITECTURE] = _json_bytes(estimator.architecture)
    elif model.family in SKLEARN_CLASSES:
        estimator = model.estimator
        if not isinstance(estimator, SklearnEstimator):
            raise TypeError(f"A {model.family!r} model needs a SklearnEstimator.")
        files[SKOPS] = skops_io.dumps(estimator.estimator)
    else:
        raise ValueError(f"Unknown model family {model.family!r}; choose from {FAMILIES}.")
    return files


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def artifacts_write(directory: Path, *, model: FittedModel, manifest_extra: dict) -> dict:
    """Write a model version into `directory`, which must not exist yet (or be empty).

    1. Serialise every file in memory and hash it.
    2. Write them into a temporary directory next to `directory` (same file system).
    3. Rename the temporary directory into place: readers see all files or none.

    Returns {"files": {name: {"sha256", "bytes"}} (manifest.json included),
    "manifest_sha256", "size_bytes"}: what the registry stores to verify loads later.
    """
    directory = Path(directory)
    clash = sorted(set(manifest_extra) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(f"manifest_extra may not set {', '.join(clash)}.")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(f"{directory} already exists; model versions are never overwritten.")
    # 1.
    files = _model_files(model)
    manifest = {
        "format": FORMAT,
        "family": model.family,
        "params": model.params,
        "class_labels": list(model.class_labels),
        "threshold": model.threshold,
        "signature": model.signature,
        "library_versions": library_versions(),
        **manifest_extra,
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
    }
    files[MANIFEST] = _json_bytes(manifest)
    # 2.
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        for name, data in files.items():
            _write_durably(tmp / name, data)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        _fsync_dir(tmp)
        # 3. An empty directory at the target is replaced; a non-empty one makes this fail.
        os.rename(tmp, directory)
        _fsync_dir(directory.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    described = {
        name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in files.items()
    }
    return {
        "files": dict(sorted(described.items())),
        "manifest_sha256": described[MANIFEST]["sha256"],
        "size_bytes": sum(d["bytes"] for d in described.values()),
    }


def _read_verified(directory: Path, expected: dict[str, str]) -> dict[str, bytes]:
    """Every expected file's bytes, each checked against its sha256; nothing else allowed."""
    directory = Path(directory)
    if MANIFEST not in expected:
        raise ArtifactIntegrityError(f"{MANIFEST}: not among the expected checksums.")
    for name in expected:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ArtifactIntegrityError(f"{name!r}: not a plain file name.")
    if not directory.is_dir():
        raise ArtifactIntegrityError(f"{directory}: the artifact directory is missing.")
    present = {p.name for p in directory.iterdir()}
    contents: dict[str, bytes] = {}
    for name in sorted(expected):
        path = directory / name
        if name not in present or not path.is_file():
            raise ArtifactIntegrityError(f"{name}: missing from {directory}.")
        data = path.read_bytes()
        digest = _sha256(data)
        if digest != expected[name]:
            raise ArtifactIntegrityError(
                f"{name}: checksum mismatch (expected {expected[name]}, found {digest})."
            )
        contents[name] = data
    unexpected = sorted(present - set(expected))
    if unexpected:
        raise ArtifactIntegrityError(f"{', '.join(unexpected)}: unexpected file(s) in {directory}.")
    try:
        manifest = json.loads(contents[MANIFEST])
    except ValueError as exc:
        raise ArtifactIntegrityError(f"{MANIFEST}: not valid JSON ({exc}).") from exc
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    others = {k: v for k, v in expected.items() if k != MANIFEST}
    if listed != others:
        raise ArtifactIntegrityError(
            f"{MANIFEST}: its file list does not match the expected checksums."
        )
    return contents


def artifacts_verify(directory: Path, *, expected: dict[str, str]) -> None:
    """Raise ArtifactIntegrityError unless `directory` holds exactly the expected files
    ({name: sha256}, manifest.json included) with those checksums."""
    _read_verified(directory, expected)


def _require(contents: dict[str, bytes], name: str, family: str) -> bytes:
    if name not in contents:
        raise ArtifactIntegrityError(f"{name}: missing, and a {family!r} model needs it.")
    return contents[name]


def _load_skops(data: bytes, family: str):
    untrusted = set(skops_io.get_untrusted_types(data=data)) - set(TRUSTED_SKOPS_TYPES)
    if untrusted:
        raise ArtifactIntegrityError(
            f"{SKOPS}: holds types outside the trusted list: {', '.join(sorted(untrusted))}."
        )
    estimator = skops_io.loads(data, trusted=TRUSTED_SKOPS_TYPES)
    expected_class = SKLEARN_CLASSES[family]
    if type(estimator) is not expected_class:
        raise ArtifactIntegrityError(
            f"{SKOPS}: holds a {type(estimator).__name__}, expected {expected_class.__name__}."
        )
    return estimator


def artifacts_load(directory: Path, *, expected: dict[str, str]) -> FittedModel:
    """Verify `directory` against `expected`, then rebuild the FittedModel from it."""
    contents = _read_verified(directory, expected)
    manifest = json.loads(contents[MANIFEST])
    if manifest.get("format") != FORMAT:
        raise ArtifactIntegrityError(f"{MANIFEST}: unknown format {manifest.get('format')!r}.")
    family = manifest.get("family")
    class_labels = [str(c) for c in manifest["class_labels"]]
    params = manifest.get("params") or {}
    preprocessor = TabularPreprocessor.from_dict(
        json.loads(_require(contents, PREPROCESSOR, family))
    )
    if family == "mlp":
        from safetensors.torch import load as safetensors_from_bytes  # torch: only for an MLP

        from engine.mlp import MLPEstimator

        architecture = json.loads(_require(contents, ARCHITECTURE, family))
        if int(architecture["n_classes"]) != len(class_labels):
            raise ArtifactIntegrityError(
                f"{ARCHITECTURE}: {architecture['n_classes']} outputs for "
                f"{len(class_labels)} class labels."
            )
        # safetensors' own parser: tensors only, no code, no pickle.
        weights = safetensors_from_bytes(_require(contents, WEIGHTS, family))
        try:
            estimator = MLPEstimator.from_weights(
                architecture=architecture, weights=weights, params=params
            )
        except RuntimeError as exc:  # state dict does not fit the architecture
            raise ArtifactIntegrityError(
                f"{WEIGHTS}: does not match {ARCHITECTURE}: {exc}"
            ) from exc
    elif family in SKLEARN_CLASSES:
        sk = _load_skops(_require(contents, SKOPS, family), family)
        estimator = SklearnEstimator(
            family=family, estimator=sk, params=params, curve=[], n_classes=len(class_labels)
        )
    else:
        raise ArtifactIntegrityError(f"{MANIFEST}: unknown model family {family!r}.")
    return FittedModel(
        preprocessor=preprocessor,
        estimator=estimator,
        class_labels=class_labels,
        threshold=manifest.get("threshold"),
        family=family,
        params=params,
        signature=manifest.get("signature"),
    )
