"""Import: register a version from an exported folder (or a Hub repository holding one).

Nothing is trusted that was not checked: every file listed in `modelyard.json` and every
artifact in `manifest.json` must match its sha256; a file that would need unpickling (a
pickle, a joblib dump) refuses the whole folder; the model loads through the same loaders as
the platform's own versions (skops with its trusted-type list, safetensors), so an export
imported again predicts exactly what it predicted before. The reference sample becomes the
version's dataset (origin "imported") and its drift reference.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from django.conf import settings

from core.errors import InvalidInput
from registry.models import Dataset, ModelVersion

EXPORT_INDEX = "modelyard.json"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin")


def export_index(folder: Path, *, model: str, version: int) -> None:
    """Write `modelyard.json` into an export folder: the sha256 of every other file."""
    files = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != EXPORT_INDEX
    }
    index = {"format": "modelyard-export/1", "model": model, "version": version, "files": files}
    (folder / EXPORT_INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def _verify(folder: Path) -> dict:
    if not (folder / "manifest.json").is_file():
        raise InvalidInput(f"{folder} holds no manifest.json: not a Modelyard export.")
    risky = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if risky:
        raise InvalidInput(
            f"Refused: {', '.join(risky)} would need unpickling to load; an export holds "
            "only JSON, skops and safetensors files."
        )
    index_path = folder / EXPORT_INDEX
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        for name, expected in index.get("files", {}).items():
            path = folder / name
            if not path.is_file():
                raise InvalidInput(f"{name}: listed in {EXPORT_INDEX} but missing.")
            found = hashlib.sha256(path.read_bytes()).hexdigest()
            if found != expected:
                raise InvalidInput(
                    f"{name}: sha256 {found} is not the {expected} it was exported with."
                )
    return json.loads((folder / "manifest.json").read_text())


def _imbalance(folder: Path) -> str:
    """The imbalance strategy the version was trained with (in card.json; not the manifest,
    which holds the model's own parameters)."""
    card = folder / "card.json"
    if not card.is_file():
        return ""
    return str(json.loads(card.read_text()).get("model_parameters", {}).get("imbalance") or "")


def model_version_import(*, source: Path, model_name: str = "", actor=None) -> ModelVersion:
    """Register a version of `model_name` (default: the exported model's name) from an
    export folder; InvalidInput naming the problem, and nothing registered, when any check
    fails."""
    from engine import artifacts
    from engine.search import SearchResult, TrialRecord
    from registry.services.datasets import dataset_ingest
    from registry.services.versions import model_version_register

    folder = Path(source)
    manifest = _verify(folder)
    # The manifest lists the artifacts' checksums; its own is the index's (checked above).
    expected = {
        **manifest["files"],
        "manifest.json": hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest(),
    }
    # The artifacts alone, as a version's directory holds them (the loader refuses strays).
    staging = Path(tempfile.mkdtemp(prefix="modelyard-import-"))
    try:
        for name in expected:
            if "/" in name or "\\" in name or not (folder / name).is_file():
                raise InvalidInput(f"{name}: listed in the manifest but missing.")
            shutil.copyfile(folder / name, staging / name)
        model = artifacts.artifacts_load(staging, expected=expected)
    except artifacts.ArtifactIntegrityError as exc:
        raise InvalidInput(f"The export's artifacts failed their checks: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    name = model_name or manifest.get("model_name") or ""
    reference_path = folder / "reference.csv"
    if not reference_path.is_file():
        raise InvalidInput("The export has no reference.csv (its reference sample).")
    reference = pd.read_csv(reference_path)
    data = reference_path.read_bytes()
    dataset, _ = dataset_ingest(
        source=io.BytesIO(data),
        filename="reference.csv",
        name=f"Imported reference sample of {manifest.get('model_name')} "
        f"v{manifest.get('version')}",
        origin=Dataset.Origin.IMPORTED,
        source_params={
            "import": {
                "manifest_sha256": hashlib.sha256(
                    (folder / "manifest.json").read_bytes()
                ).hexdigest()
            }
        },
        created_by=actor,
    )
    example_path = folder / "input_example.json"
    example = json.loads(example_path.read_text()) if example_path.is_file() else []
    metrics = dict(manifest.get("metrics") or {})
    result = SearchResult(
        best=TrialRecord(
            number=0,
            family=model.family,
            params=dict(model.params),
            imbalance=_imbalance(folder),
            state="complete",
            value=None,
            duration_s=0.0,
            curve=[],
            error="",
        ),
        model=model,
        test_metrics=metrics,
        validation_score=None,
        metric="",
        signature=manifest.get("signature") or model.signature or {},
        reference_sample=reference,
        input_example=example,
        feature_importance=manifest.get("feature_importance") or {},
        n_complete=0,
        n_pruned=0,
        n_failed=0,
    )
    return model_version_register(
        model_name=name,
        dataset=dataset,
        result=result,
        description=f"Imported from an export of {manifest.get('model_name')} "
        f"v{manifest.get('version')}.",
    )


def model_version_import_repo(*, repo_id: str, model_name: str = "", actor=None) -> ModelVersion:
    """Download a Hub repository holding an export (HF_ENDPOINT, HF_TOKEN) and import it."""
    from huggingface_hub import snapshot_download

    folder = Path(tempfile.mkdtemp(prefix="modelyard-import-"))
    try:
        snapshot_download(
            repo_id=repo_id,
            local_dir=folder,
            endpoint=settings.HF_ENDPOINT,
            token=settings.HF_TOKEN or None,
        )
        return model_version_import(source=folder, model_name=model_name, actor=actor)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
