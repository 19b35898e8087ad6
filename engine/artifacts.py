"""Versioned model artifacts on disk, without pickle.

A version directory holds:

- preprocessor.json: the fitted `TabularPreprocessor` (numpy at serving time);
- calibration.json: the probability calibrator fitted on the validation rows
  (`engine.calibration`; versions written before it existed load with none);
- the family's own files, written and read by its adapter (`engine.families`): for the MLP
  model.safetensors + architecture.json, for scikit-learn families model.skops (skops.io,
  loaded only with the family's explicit trust list);
- manifest.json: format, family, params, class labels, threshold, signature, the sha256 of
  every other file, library versions, and the caller's extra keys.

Loading reads each file once, checks its sha256 against the checksums the registry stored
when the version was written, and parses the very bytes it checked.

No Django imports here: the registry passes paths and checksums in.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from engine.calibration import Calibrator
from engine.errors import ArtifactIntegrityError
from engine.families import adapter
from engine.model import FittedModel
from engine.preprocess import TabularPreprocessor
from engine.values import json_safe

__all__ = ["ArtifactIntegrityError", "artifacts_load", "artifacts_verify", "artifacts_write"]

FORMAT = "modelyard/1"
MANIFEST = "manifest.json"
PREPROCESSOR = "preprocessor.json"
CALIBRATION = "calibration.json"
# Reserved manifest keys: manifest_extra may not replace them.
RESERVED_KEYS = ("format", "family", "params", "class_labels", "threshold", "files")
LIBRARY_PACKAGES = {
    "torch": "torch",
    "sklearn": "scikit-learn",
    "numpy": "numpy",
    "pandas": "pandas",
    "optuna": "optuna",
    "skops": "skops",
    "safetensors": "safetensors",
}


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
    files = {
        PREPROCESSOR: _json_bytes(model.preprocessor.to_dict()),
        CALIBRATION: _json_bytes(model.calibrator.to_dict()),
    }
    family_files = adapter(model.family).files(model.estimator)
    clash = sorted(set(family_files) & {PREPROCESSOR, CALIBRATION, MANIFEST})
    if clash:
        raise ValueError(f"The {model.family!r} family may not write {', '.join(clash)}.")
    return {**files, **family_files}


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


def artifacts_load(directory: Path, *, expected: dict[str, str]) -> FittedModel:
    """Verify `directory` against `expected`, then rebuild the FittedModel from it."""
    contents = _read_verified(directory, expected)
    manifest = json.loads(contents[MANIFEST])
    if manifest.get("format") != FORMAT:
        raise ArtifactIntegrityError(f"{MANIFEST}: unknown format {manifest.get('format')!r}.")
    family = manifest.get("family")
    class_labels = [str(c) for c in manifest["class_labels"]]
    params = manifest.get("params") or {}
    if PREPROCESSOR not in contents:
        raise ArtifactIntegrityError(f"{PREPROCESSOR}: missing, and every model needs it.")
    preprocessor = TabularPreprocessor.from_dict(json.loads(contents[PREPROCESSOR]))
    try:
        family_adapter = adapter(family)
    except ValueError:
        raise ArtifactIntegrityError(f"{MANIFEST}: unknown model family {family!r}.") from None
    estimator = family_adapter.load(contents, params=params, class_labels=class_labels)
    calibrator = Calibrator()
    if CALIBRATION in contents:
        try:
            calibrator = Calibrator.from_dict(json.loads(contents[CALIBRATION]))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ArtifactIntegrityError(f"{CALIBRATION}: {exc}") from exc
    return FittedModel(
        preprocessor=preprocessor,
        estimator=estimator,
        class_labels=class_labels,
        threshold=manifest.get("threshold"),
        family=family,
        params=params,
        signature=manifest.get("signature"),
        calibrator=calibrator,
    )
