from django.db.models import Count, Max, Prefetch, Q, QuerySet

from engine import vocabulary
from registry.models import Dataset, ModelVersion, RegisteredModel, StageTransition


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.select_related("created_by").annotate(
        version_count=Count("model_versions")
    )


def registered_model_list() -> QuerySet[RegisteredModel]:
    return RegisteredModel.objects.annotate(version_count=Count("versions")).prefetch_related(
        Prefetch(
            "versions",
            queryset=ModelVersion.objects.only("id", "version", "stage", "registered_model_id"),
        )
    )


def registered_model_get(name: str) -> RegisteredModel | None:
    return RegisteredModel.objects.filter(name=name).first()


def model_version_get_production(model_name: str) -> ModelVersion | None:
    return (
        ModelVersion.objects.select_related("registered_model")
        .filter(registered_model__name=model_name, stage=ModelVersion.Stage.PRODUCTION)
        .first()
    )


# --- For the other apps ----------------------------------------------------------------------
# The import contract lets other apps reach the registry only through its services and
# selectors, never registry.models: its vocabulary and the rows they read are here.

Stage = ModelVersion.Stage
DatasetOrigin = Dataset.Origin


def dataset_queryset() -> QuerySet[Dataset]:
    """Every dataset (for a serializer's primary-key field)."""
    return Dataset.objects.all()


def dataset_labelled_list() -> QuerySet[Dataset]:
    """Datasets with a target column, newest first: the ones a training job may use."""
    return Dataset.objects.exclude(target="").order_by("-created_at", "-id")


def dataset_get_by_ref(ref: str) -> Dataset | None:
    """A dataset by its id (all digits) or its exact name."""
    if ref.isdigit():
        return Dataset.objects.filter(pk=int(ref)).first()
    return Dataset.objects.filter(name=ref).first()


def registered_model_exists(name: str) -> bool:
    return RegisteredModel.objects.filter(name=name).exists()


def model_version_list_by_name(model_name: str) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(registered_model__name=model_name)


def model_version_get_by_id(pk: int) -> ModelVersion:
    """The version with its model loaded; ModelVersion.DoesNotExist (an ObjectDoesNotExist)
    when there is none."""
    return ModelVersion.objects.select_related("registered_model", "dataset").get(pk=pk)


def model_version_production_of(model_id: int) -> ModelVersion | None:
    """The production version of the model with this id, with its model and dataset."""
    return (
        ModelVersion.objects.select_related("registered_model", "dataset")
        .filter(registered_model_id=model_id, stage=Stage.PRODUCTION)
        .first()
    )


def model_version_serving_rows() -> list[tuple[int, str, int, str]]:
    """(id, model name, number, stage) of every version that is not archived, by model and
    number. Archived versions no longer serve."""
    return list(
        ModelVersion.objects.exclude(stage=Stage.ARCHIVED)
        .order_by("registered_model__name", "version")
        .values_list("id", "registered_model__name", "version", "stage")
    )


def model_version_serving_ids() -> list[tuple[int, int, str]]:
    """(id, model id, stage) of every version that is not archived."""
    return list(
        ModelVersion.objects.exclude(stage=Stage.ARCHIVED).values_list(
            "id", "registered_model_id", "stage"
        )
    )


def stage_transition_promotions(model_id: int, *, limit: int = 200) -> QuerySet[StageTransition]:
    """The model's transitions to production, oldest first."""
    return (
        StageTransition.objects.filter(
            model_version__registered_model_id=model_id, to_stage=Stage.PRODUCTION
        )
        .select_related("model_version")
        .order_by("created_at")[:limit]
    )


# --- Model registry ---------------------------------------------------------------------------

# (key, label, higher_is_better) for the scalar test-set metrics, in table order.
SCALAR_METRICS = [(m.name, m.label, m.higher_is_better) for m in vocabulary.TEST_METRICS]
KEY_METRICS = vocabulary.HEADLINE_METRICS


def registered_model_summaries() -> list[dict]:
    """For the models page: every model with its production and latest versions, version
    count and key metric."""
    models = list(
        RegisteredModel.objects.annotate(
            version_count=Count("versions"), latest_number=Max("versions__version")
        ).order_by("name")
    )
    production = {
        v.registered_model_id: v
        for v in ModelVersion.objects.filter(stage=ModelVersion.Stage.PRODUCTION)
    }
    latest_filter = Q(pk__in=[])
    for m in models:
        if m.latest_number is not None:
            latest_filter |= Q(registered_model_id=m.pk, version=m.latest_number)
    latest = {v.registered_model_id: v for v in ModelVersion.objects.filter(latest_filter)}
    rows = []
    for m in models:
        shown = production.get(m.pk) or latest.get(m.pk)
        rows.append(
            {
                "model": m,
                "production": production.get(m.pk),
                "latest": latest.get(m.pk),
                "version_count": m.version_count,
                "key_metric": model_version_key_metric(shown) if shown else None,
            }
        )
    return rows


def model_version_key_metric(version: ModelVersion) -> dict | None:
    for key in KEY_METRICS:
        value = (version.metrics or {}).get(key)
        if isinstance(value, int | float):
            return {
                "key": key,
                "label": dict((k, lbl) for k, lbl, _ in SCALAR_METRICS)[key],
                "value": value,
                "version": version.version,
            }
    return None


def model_version_list(model: RegisteredModel) -> QuerySet[ModelVersion]:
    return model.versions.select_related("training_job", "dataset").order_by("-version")


def model_version_get(name: str, number: int) -> ModelVersion:
    return (
        ModelVersion.objects.select_related("registered_model", "dataset", "training_job")
        .filter(registered_model__name=name, version=number)
        .get()
    )


def model_version_metric_rows(version: ModelVersion) -> list[dict]:
    metrics = version.metrics or {}
    return [
        {"key": key, "label": label, "value": metrics[key], "higher_is_better": higher}
        for key, label, higher in SCALAR_METRICS
        if isinstance(metrics.get(key), int | float)
    ]


def model_version_per_class(version: ModelVersion) -> list[dict]:
    per_class = (version.metrics or {}).get("per_class") or {}
    order = version.class_labels or list(per_class)
    rows = []
    for label in order:
        scores = per_class.get(str(label)) or per_class.get(label)
        if isinstance(scores, dict):
            rows.append({"label": label, **scores})
    return rows


def model_version_history(version: ModelVersion) -> QuerySet[StageTransition]:
    return version.transitions.select_related("actor").order_by("-created_at", "-id")


def model_version_compare(a: ModelVersion, b: ModelVersion) -> dict:
    """Side by side: metric rows with b - a deltas judged better/worse, and the parameters
    (`registry.charts.model_version_compare_charts` draws their curves)."""
    metric_rows = []
    for key, label, higher in SCALAR_METRICS:
        va, vb = (a.metrics or {}).get(key), (b.metrics or {}).get(key)
        va = va if isinstance(va, int | float) else None
        vb = vb if isinstance(vb, int | float) else None
        if va is None and vb is None:
            continue
        delta = verdict = None
        if va is not None and vb is not None:
            delta = vb - va
            if abs(delta) < 1e-12:
                verdict = "same"
            else:
                verdict = "better" if (delta > 0) == higher else "worse"
        metric_rows.append(
            {
                "key": key,
                "label": label,
                "a": va,
                "b": vb,
                "delta": delta,
                "verdict": verdict,
                "higher_is_better": higher,
            }
        )
    keys = list(dict.fromkeys([*(a.params or {}), *(b.params or {})]))
    param_rows = [
        {
            "key": k,
            "a": (a.params or {}).get(k),
            "b": (b.params or {}).get(k),
            "differs": (a.params or {}).get(k) != (b.params or {}).get(k),
        }
        for k in keys
    ]
    param_rows.insert(
        0, {"key": "family", "a": a.family, "b": b.family, "differs": a.family != b.family}
    )
    return {"metrics": metric_rows, "params": param_rows}


def model_version_names(version_ids) -> dict[int, tuple[str, int]]:
    """Version id -> (model name, version number)."""
    return {
        pk: (name, number)
        for pk, name, number in ModelVersion.objects.filter(pk__in=list(version_ids)).values_list(
            "id", "registered_model__name", "version"
        )
    }


def storage_inventory() -> list[dict]:
    """What the platform keeps on disk: each version's artifact folder and each dataset's
    file, with whose it is ({"what", "id", "name", "model_name", "version", "path"})."""
    items = [
        {
            "what": "artifacts",
            "id": v.pk,
            "name": f"{v.registered_model.name} v{v.version}",
            "model_name": v.registered_model.name,
            "version": v.version,
            "path": v.artifact_dir if v.artifact_path else None,
        }
        for v in ModelVersion.objects.select_related("registered_model").order_by("id")
    ]
    items += [
        {
            "what": "dataset",
            "id": d.pk,
            "name": d.name,
            "model_name": "",
            "version": None,
            "path": d.absolute_path,
        }
        for d in Dataset.objects.order_by("id")
    ]
    return items


def model_version_reference(version: ModelVersion):
    """The version's reference sample (raw training rows) as a DataFrame, its checksum
    verified: FileNotFoundError when it is missing, ValueError when it changed."""
    import hashlib

    from core import csvfiles

    path = version.reference_file
    if path is None or not path.exists():
        raise FileNotFoundError(f"The reference sample of {version} is missing.")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if version.reference_sha256 and digest != version.reference_sha256:
        raise ValueError(
            f"The reference sample of {version} failed its checksum "
            f"(expected {version.reference_sha256}, found {digest})."
        )
    return csvfiles.read_frame(path, ",")
