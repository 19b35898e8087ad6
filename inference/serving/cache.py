"""Per-process model cache: which version serves a model, and the loaded versions.

Two layers, both bounded and both rebuilt from the database, never the source of truth:

1. Resolution: (model name, version or stage) → the serving version's id and manifest
   checksum, remembered for `INFERENCE_RESOLVE_TTL_SECONDS` (default 0.5 s). A promotion
   therefore reaches every web process within that time plus one request, without a database
   query on every prediction.
2. Loaded models: an LRU of `ServingModel`s keyed by (version id, manifest sha256), at most
   `INFERENCE_CACHE_SIZE` entries. A load verifies every artifact checksum; a version that
   fails is flagged corrupt by the registry and refused, here and in every other process
   (their next resolution sees the flag).

Thread-safe, for gunicorn's threaded workers: a lock guards both maps, and a version is
loaded once even when several threads ask for it together.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from core.errors import Conflict, InvalidInput, NotFound
from registry.selectors import (
    Stage,
    model_version_get_by_id,
    model_version_list_by_name,
    model_version_reference,
    registered_model_exists,
)


@dataclass(frozen=True)
class Target:
    """The version a request is served by."""

    model_id: int
    model_name: str
    version_id: int
    version: int
    stage: str
    manifest_sha256: str


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resolved: dict[tuple, tuple[float, Target]] = {}
        self._models: OrderedDict[tuple[int, str], object] = OrderedDict()
        self._loading: dict[tuple[int, str], threading.Lock] = {}

    def clear(self) -> None:
        with self._lock:
            self._resolved.clear()
            self._models.clear()

    # -- 1. resolution ----------------------------------------------------------------------

    def resolve(self, model_name: str, *, version: int | None = None, stage: str | None = None):
        key = (model_name, version, stage)
        now = time.monotonic()
        hit = self._resolved.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        target = _resolve_from_database(model_name, version=version, stage=stage)
        with self._lock:
            if len(self._resolved) >= 1024:  # names come from URLs: keep the map bounded
                self._resolved.clear()
            self._resolved[key] = (now + settings.INFERENCE_RESOLVE_TTL_SECONDS, target)
        return target

    # -- 2. loaded versions -----------------------------------------------------------------

    def get(self, target: Target):
        key = (target.version_id, target.manifest_sha256)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                model = self._models.get(key)
            if model is None:
                model = _load(target)
                with self._lock:
                    self._models[key] = model
                    while len(self._models) > settings.INFERENCE_CACHE_SIZE:
                        self._models.popitem(last=False)
        with self._lock:
            self._loading.pop(key, None)
        return model

    def loaded_keys(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._models)


def _resolve_from_database(model_name: str, *, version: int | None, stage: str | None) -> Target:
    versions = model_version_list_by_name(model_name)
    if version is not None:
        versions, wanted = versions.filter(version=version), f"version {version}"
    else:
        stage = stage or Stage.PRODUCTION
        if stage not in Stage.values:
            raise InvalidInput(
                f"Unknown stage {stage!r}; choose one of {', '.join(Stage.values)}.",
                field="stage",
            )
        # Several versions can share a non-production stage: serve the newest.
        versions, wanted = versions.filter(stage=stage).order_by("-version"), f"a {stage} version"
    row = versions.values(
        "id", "version", "stage", "manifest_sha256", "integrity_error", "registered_model_id"
    ).first()
    if row is None:
        if not registered_model_exists(model_name):
            raise NotFound(f"There is no model named {model_name!r}.")
        raise NotFound(f"Model {model_name!r} has no {wanted}.")
    if row["integrity_error"]:
        raise Conflict(
            f"{model_name} v{row['version']} failed its artifact checksums and is not served: "
            f"{row['integrity_error']}"
        )
    return Target(
        model_id=row["registered_model_id"],
        model_name=model_name,
        version_id=row["id"],
        version=row["version"],
        stage=row["stage"],
        manifest_sha256=row["manifest_sha256"],
    )


def _load(target: Target):
    from inference.pipeline import ServingModel
    from registry.services import model_version_load

    version = model_version_get_by_id(target.version_id)
    if version.manifest_sha256 != target.manifest_sha256:
        raise Conflict(f"{version} changed while it was being loaded; retry the request.")
    fitted = model_version_load(version=version)  # verifies checksums, Conflict if corrupt
    return ServingModel(
        fitted,
        version_id=version.pk,
        manifest_sha256=version.manifest_sha256,
        model_name=version.registered_model.name,
        version=version.version,
        max_rows=settings.PREDICT_MAX_ROWS,
        reference=lambda: model_version_reference(version),
    )


model_cache = ModelCache()
