from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from core import csvfiles
from core.errors import Conflict, InvalidInput
from registry import synthetic
from registry.models import Dataset
from registry.synthetic import SyntheticParams

logger = logging.getLogger(__name__)


def _dataset_name_from(filename: str) -> str:
    stem = Path(filename or "dataset").name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem or "dataset"


def dataset_ingest(
    *,
    source: BinaryIO,
    filename: str = "",
    name: str = "",
    target: str = "",
    description: str = "",
    origin: str = Dataset.Origin.UPLOAD,
    source_params: dict | None = None,
    created_by=None,
) -> tuple[Dataset, bool]:
    """Validate, profile and store a CSV; return (dataset, created).

    Nothing is stored unless every check passes: the file is spooled to a temporary file, the
    row is written in a transaction, and the file moves to its final place only after commit.
    An identical file (same sha256) returns the dataset already stored, with `created` False.
    """
    name = (name or "").strip() or _dataset_name_from(filename)
    if len(name) > 200:
        raise InvalidInput("Name is longer than 200 characters.", field="name")
    spooled = csvfiles.spool(
        source, directory=settings.UPLOAD_TMP_DIR, limit=settings.DATASET_MAX_UPLOAD_BYTES
    )
    try:
        existing = Dataset.objects.filter(sha256=spooled.sha256).first()
        if existing is not None:
            return existing, False
        parsed = csvfiles.parse_csv(spooled.path, min_rows=settings.DATASET_MIN_ROWS)
        target = (target or "").strip()
        classes = (
            csvfiles.target_classes(parsed.frame, target, max_classes=settings.DATASET_MAX_CLASSES)
            if target
            else []
        )
        columns = csvfiles.profile_frame(parsed.frame)
        relative = Path("datasets") / f"{spooled.sha256}.csv"
        try:
            with transaction.atomic():
                dataset = Dataset.objects.create(
                    name=name,
                    description=description,
                    origin=origin,
                    original_filename=Path(filename).name[:255] if filename else "",
                    file_path=str(relative),
                    sha256=spooled.sha256,
                    size_bytes=spooled.size,
                    delimiter=parsed.delimiter,
                    row_count=len(parsed.frame),
                    column_count=len(parsed.frame.columns),
                    columns=columns,
                    target=target,
                    target_kind=_target_kind(classes),
                    target_classes=classes,
                    source_params=source_params or {},
                    created_by=created_by,
                )
        except IntegrityError:
            # The same file arrived concurrently and the other request stored it first.
            existing = Dataset.objects.filter(sha256=spooled.sha256).first()
            if existing is None:
                raise
            return existing, False
        final = settings.DATA_DIR / relative
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(spooled.path, final)
        except OSError:
            dataset.delete()
            raise
        logger.info(
            "dataset %s stored: %s rows, sha256 %s", dataset.pk, dataset.row_count, dataset.sha256
        )
        return dataset, True
    finally:
        spooled.path.unlink(missing_ok=True)


def _target_kind(classes: list) -> str:
    if not classes:
        return ""
    return Dataset.TargetKind.BINARY if len(classes) == 2 else Dataset.TargetKind.MULTICLASS


def dataset_set_target(*, dataset: Dataset, target: str) -> Dataset:
    """Name (or change) the target column of a stored dataset."""
    target = (target or "").strip()
    if not target:
        raise InvalidInput("Name the target column.", field="target")
    if target not in dataset.column_names:
        raise InvalidInput(
            f"Target column {target!r} is not in dataset {dataset.name!r}. "
            f"Columns: {', '.join(dataset.column_names)}.",
            field="target",
        )
    frame = csvfiles.read_column(dataset.absolute_path, dataset.delimiter, target)
    classes = csvfiles.target_classes(frame, target, max_classes=settings.DATASET_MAX_CLASSES)
    updated = Dataset.objects.filter(pk=dataset.pk).update(
        target=target, target_kind=_target_kind(classes), target_classes=classes
    )
    if not updated:
        raise Conflict(f"Dataset {dataset.pk} no longer exists.")
    dataset.refresh_from_db()
    return dataset


def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset and its file; refused while a model version was trained on it."""
    path = dataset.absolute_path
    in_use = dataset.model_versions.count()
    if in_use:
        raise Conflict(
            f"Dataset {dataset.name!r} is used by {in_use} model version(s); "
            "archive and delete those versions first.",
            details={"model_versions": in_use},
        )
    try:
        with transaction.atomic():
            dataset.delete()
            transaction.on_commit(lambda: path.unlink(missing_ok=True))
    except ProtectedError as exc:
        # A version was registered between the count and the delete.
        raise Conflict(f"Dataset {dataset.name!r} is used by a model version.") from exc


def dataset_generate_synthetic(
    *, params: SyntheticParams, name: str = "", created_by=None
) -> tuple[Dataset, bool]:
    """Generate a synthetic dataset (target `label`) and ingest it like an upload."""
    frame = synthetic.generate(params)
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    if not name:
        drift = " drifted" if params.has_drift else ""
        name = f"Synthetic{drift} ({params.rows} rows, seed {params.seed})"
    return dataset_ingest(
        source=buffer,
        filename="synthetic.csv",
        name=name,
        target="label",
        origin=Dataset.Origin.SYNTHETIC,
        description="Generated by Modelyard's synthetic generator"
        + (f"; drift injected into {', '.join(params.drifted)}." if params.drifted else "."),
        source_params=synthetic.params_dict(params),
        created_by=created_by,
    )
