"""Model versions: registration with artifacts, and every stage change through one service."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from core.errors import Conflict, InvalidInput
from core.events import emit
from engine import vocabulary
from registry.models import Dataset, ModelVersion, RegisteredModel, StageTransition

if TYPE_CHECKING:
    from engine.search import SearchResult

logger = logging.getLogger(__name__)

Stage = ModelVersion.Stage

# Which stage a version may move to from where it is. Archived versions can come back (a
# rollback); production can step down to staging or archived.
ALLOWED_TRANSITIONS = {
    Stage.CANDIDATE: {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED},
    Stage.STAGING: {Stage.CANDIDATE, Stage.PRODUCTION, Stage.ARCHIVED},
    Stage.PRODUCTION: {Stage.STAGING, Stage.ARCHIVED},
    Stage.ARCHIVED: {Stage.STAGING, Stage.PRODUCTION},
}


def _actor_label(actor) -> str:
    return actor.get_username() if actor is not None else "system"


def model_version_transition(
    *,
    version: ModelVersion,
    to_stage: str,
    actor=None,
    reason: str = "",
    evidence: dict | None = None,
) -> ModelVersion:
    """Move a version to another stage and record it; the one path for pages, API and admin.

    Promoting to production archives the model's current production version in the same
    transaction. Concurrent promotions of one model queue on the model row's lock; should two
    still race, the partial unique constraint lets exactly one commit and the other gets a 409.
    """
    if to_stage not in Stage.values:
        raise InvalidInput(
            f"Unknown stage {to_stage!r}; choose one of {', '.join(Stage.values)}.",
            field="stage",
        )
    try:
        with transaction.atomic():
            RegisteredModel.objects.select_for_update().get(pk=version.registered_model_id)
            locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
            from_stage = locked.stage
            if from_stage == to_stage:
                raise Conflict(f"{locked} is already in {to_stage}.")
            if to_stage not in ALLOWED_TRANSITIONS[from_stage]:
                raise Conflict(f"{locked} cannot move from {from_stage} to {to_stage}.")
            if to_stage == Stage.PRODUCTION and locked.integrity_error:
                raise Conflict(
                    f"{locked} failed its artifact checksums and cannot serve: "
                    f"{locked.integrity_error}"
                )
            if to_stage == Stage.PRODUCTION:
                current = (
                    ModelVersion.objects.select_for_update()
                    .filter(registered_model_id=locked.registered_model_id, stage=Stage.PRODUCTION)
                    .exclude(pk=locked.pk)
                    .first()
                )
                if current is not None:
                    current.stage = Stage.ARCHIVED
                    current.save(update_fields=["stage"])
                    _announce(current, Stage.ARCHIVED, f"replaced by v{locked.version}")
                    StageTransition.objects.create(
                        model_version=current,
                        from_stage=Stage.PRODUCTION,
                        to_stage=Stage.ARCHIVED,
                        actor=actor,
                        actor_label=_actor_label(actor),
                        reason=f"Replaced in production by v{locked.version}."
                        + (f" {reason}" if reason else ""),
                        evidence={"replaced_by_version": locked.version, **(evidence or {})},
                    )
            locked.stage = to_stage
            locked.save(update_fields=["stage"])
            StageTransition.objects.create(
                model_version=locked,
                from_stage=from_stage,
                to_stage=to_stage,
                actor=actor,
                actor_label=_actor_label(actor),
                reason=reason,
                evidence=evidence or {},
            )
            _announce(locked, to_stage, reason)
    except IntegrityError as exc:
        raise Conflict(
            f"Another promotion of model {version.registered_model.name!r} won the race; "
            "reload and try again."
        ) from exc
    logger.info("%s: %s -> %s by %s", locked, from_stage, to_stage, _actor_label(actor))
    return locked


STAGE_EVENTS = {
    Stage.PRODUCTION: "version.promoted",
    Stage.STAGING: "version.staged",
    Stage.ARCHIVED: "version.archived",
}


def _announce(version: ModelVersion, to_stage: str, reason: str) -> None:
    kind = STAGE_EVENTS.get(to_stage)
    if kind is not None:
        emit(
            kind,
            model_name=version.registered_model.name,
            version=version.version,
            summary=f"{version} moved to {to_stage}" + (f": {reason}" if reason else ""),
            data={"stage": to_stage},
        )


def model_version_promote(*, version: ModelVersion, actor=None, reason: str = "", evidence=None):
    return model_version_transition(
        version=version, to_stage=Stage.PRODUCTION, actor=actor, reason=reason, evidence=evidence
    )


def model_version_archive(*, version: ModelVersion, actor=None, reason: str = "", evidence=None):
    return model_version_transition(
        version=version, to_stage=Stage.ARCHIVED, actor=actor, reason=reason, evidence=evidence
    )


def model_version_mark_corrupt(*, version: ModelVersion, error: str) -> ModelVersion:
    ModelVersion.objects.filter(pk=version.pk).update(integrity_error=error[:2000])
    version.integrity_error = error[:2000]
    logger.error("%s failed its artifact checksums: %s", version, error)
    return version


def _key_metrics(metrics: dict) -> dict:
    return {k: metrics[k] for k in vocabulary.KEY_METRICS if metrics.get(k) is not None}


def model_version_register(
    *,
    model_name: str,
    dataset: Dataset,
    result: SearchResult,
    training_job=None,
    description: str = "",
) -> ModelVersion:
    """Store a search result as the model's next version: artifacts, checksums, lineage.

    1. Lock the model row (created if new) so version numbers count up without gaps or twins.
    2. Write the artifacts (atomic directory rename) and the reference sample for drift checks.
    3. Create the version row; if anything fails, the directory is removed with the rollback.
    4. After commit, a model without a production version gets this one (system transition),
       when settings.REGISTRY_AUTO_PROMOTE_FIRST is on.
    """
    from engine import (
        artifacts,  # skops (and torch for an MLP): only processes that write load them
    )

    try:
        model, _ = RegisteredModel.objects.get_or_create(name=model_name)
    except IntegrityError:
        model = RegisteredModel.objects.get(name=model_name)
    directory = None
    try:
        with transaction.atomic():
            RegisteredModel.objects.select_for_update().get(pk=model.pk)
            number = (model.versions.aggregate(n=Max("version"))["n"] or 0) + 1
            relative = f"{model.name}/v{number}"
            directory = settings.ARTIFACTS_DIR / relative
            manifest_extra = {
                "model_name": model.name,
                "version": number,
                "signature": result.signature,
                "dataset_sha256": dataset.sha256,
                "metrics": _key_metrics(result.test_metrics),
                "feature_importance": result.feature_importance,
                "training_job": training_job.pk if training_job is not None else None,
            }
            written = artifacts.artifacts_write(
                directory, model=result.model, manifest_extra=manifest_extra
            )
            files = dict(written["files"])
            reference_relative = f"{model.name}/v{number}.reference.csv"
            reference = settings.ARTIFACTS_DIR / reference_relative
            result.reference_sample.to_csv(reference, index=False)
            manifest = (directory / "manifest.json").read_text()
            version = ModelVersion.objects.create(
                registered_model=model,
                version=number,
                dataset=dataset,
                dataset_sha256=dataset.sha256,
                training_job=training_job,
                family=result.model.family,
                params={**result.best.params, "imbalance": result.best.imbalance},
                metrics={**result.test_metrics, "feature_importance": result.feature_importance},
                validation_score=result.validation_score,
                threshold=result.model.threshold,
                signature=result.signature,
                input_example=result.input_example,
                library_versions=_library_versions(manifest),
                artifact_path=relative,
                artifact_files=files,
                manifest_sha256=written["manifest_sha256"],
                size_bytes=sum(f["bytes"] for f in files.values()),
                reference_path=reference_relative,
                reference_sha256=hashlib.sha256(reference.read_bytes()).hexdigest(),
                description=description,
            )
            emit(
                "version.registered",
                model_name=model.name,
                version=number,
                summary=f"{model.name} v{number} registered ({result.model.family})",
                data={"training_job": getattr(training_job, "pk", None)},
            )
    except BaseException:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
            directory.with_name(f"{directory.name}.reference.csv").unlink(missing_ok=True)
        raise
    if (
        settings.REGISTRY_AUTO_PROMOTE_FIRST
        and not model.versions.filter(stage=Stage.PRODUCTION).exists()
    ):
        try:
            model_version_promote(
                version=version,
                reason="First successful version of a model without a production version; "
                "promoted automatically.",
                evidence={"test_metrics": _key_metrics(result.test_metrics)},
            )
        except Conflict as exc:
            # Another version got there first: this one stays a candidate.
            logger.info("%s not auto-promoted: %s", version, exc.message)
        version.refresh_from_db()
    return version


def _library_versions(manifest_text: str) -> dict:
    return json.loads(manifest_text).get("library_versions", {})


def model_version_load(*, version: ModelVersion):
    """Load a version's model after verifying every artifact checksum; a mismatch flags the
    version as corrupt (it is never served) and raises Conflict."""
    from engine import artifacts

    try:
        return artifacts.artifacts_load(version.artifact_dir, expected=version.expected_checksums)
    except artifacts.ArtifactIntegrityError as exc:
        model_version_mark_corrupt(version=version, error=str(exc))
        raise Conflict(f"{version} cannot be loaded: {exc}") from exc


def model_version_derived_write(*, version: ModelVersion, name: str, data: bytes) -> Path:
    """Write one derived file of a version (a model card, a report, an export manifest) and
    return its path.

    Derived files live under settings.DERIVED_DIR, never in the version's artifact directory:
    the loader accepts exactly the files the registry wrote there and flags anything else as
    corruption, so a card written beside the weights would take production down. The write is
    atomic (temporary file, then rename), so a reader never sees half a file, and writing the
    same name again replaces it (derived files are regenerated, never edited).
    """
    if not name or Path(name).name != name or name in (".", "..") or name.startswith("."):
        raise InvalidInput(f"{name!r} is not a plain file name.", field="name")
    directory = version.derived_dir
    if version.artifact_dir in (directory, *directory.parents):
        raise InvalidInput(f"{directory} is inside the artifact directory of {version}.")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{name}.", delete=False)
    try:
        with handle:
            handle.write(data)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def model_version_shap_importance(*, version: ModelVersion) -> dict | None:
    """The version's global SHAP importance (engine.explain.global_importance): stored with its
    metrics at registration; computed and stored on first use for a version registered before
    explanations existed. None (logged) when it cannot be computed."""
    stored = (version.metrics or {}).get("shap_importance")
    if stored is not None or version.is_corrupt:
        return stored
    reference = version.reference_file
    if reference is None or not reference.exists() or not version.artifact_dir.is_dir():
        return None  # nothing to compute from; loading would flag the version corrupt
    from engine.explain import global_importance
    from registry.selectors import model_version_reference

    try:
        value = global_importance(
            model_version_load(version=version), model_version_reference(version)
        )
    except (Conflict, FileNotFoundError, ValueError) as exc:
        logger.warning("no SHAP importance for %s: %s", version, exc)
        return None
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        locked.metrics = {**(locked.metrics or {}), "shap_importance": value}
        locked.save(update_fields=["metrics"])
    version.metrics = locked.metrics
    return value


def model_version_card_evaluation(*, version: ModelVersion) -> dict | None:
    """The model card's bootstrap intervals and slices (engine.card.card_evaluation): stored
    with the metrics at registration; for an older version recomputed once from its training
    job's split of its dataset (the same seed and fractions give the same test rows) and
    stored. None when there is nothing to compute from (no job, no dataset file, corrupt)."""
    stored = (version.metrics or {}).get("card")
    if stored is not None or version.is_corrupt:
        return stored
    job, dataset = version.training_job, version.dataset
    if job is None or dataset is None or not dataset.absolute_path.exists():
        return None
    if not version.artifact_dir.is_dir():
        return None
    from core import csvfiles
    from engine.card import card_evaluation
    from engine.search import SearchConfig, prepare_data

    c = job.config or {}
    config = SearchConfig(
        target=c["target"],
        families=list(c["families"]),
        imbalance=list(c["imbalance"]),
        metric=c["metric"],
        n_trials=job.n_trials,
        seed=c.get("seed", 0),
        val_fraction=c.get("val_fraction", 0.15),
        test_fraction=c.get("test_fraction", 0.15),
    )
    try:
        frame = csvfiles.read_frame(dataset.absolute_path, dataset.delimiter)
        prepared = prepare_data(frame, config, columns=dataset.columns)
        expected = [f["name"] for f in (version.signature or {}).get("features", [])]
        if prepared.preprocessor.feature_names != expected:
            return None
        value = card_evaluation(
            model_version_load(version=version),
            prepared.test_features,
            prepared.y_test,
            seed=config.seed,
        )
    except (Conflict, OSError, ValueError, KeyError) as exc:
        logger.warning("no card evaluation for %s: %s", version, exc)
        return None
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        locked.metrics = {**(locked.metrics or {}), "card": value}
        locked.save(update_fields=["metrics"])
    version.metrics = locked.metrics
    return value
