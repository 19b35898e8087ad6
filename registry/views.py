from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, InvalidInput
from core.permissions import staff_required
from core.uploads import upload_form_refusing_oversize
from registry import cards, selectors, services
from registry import charts as registry_charts
from registry.forms import DatasetTargetForm, DatasetUploadForm, SyntheticDatasetForm
from registry.models import Dataset, ModelVersion, RegisteredModel
from registry.services.versions import ALLOWED_TRANSITIONS


def dataset_list(request):
    return render(
        request,
        "registry/dataset_list.html",
        {"datasets": selectors.dataset_list(), "form": DatasetUploadForm()},
    )


@require_http_methods(["GET", "POST"])
def dataset_upload(request):
    form = DatasetUploadForm()
    if request.method == "POST":
        form = upload_form_refusing_oversize(DatasetUploadForm, request)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                with upload.open("rb") as source:
                    dataset, created = services.dataset_ingest(
                        source=source,
                        filename=upload.name,
                        name=form.cleaned_data["name"],
                        target=form.cleaned_data["target"],
                        description=form.cleaned_data["description"],
                        created_by=request.user,
                    )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                if created:
                    messages.success(
                        request, f"Dataset “{dataset.name}” stored: {dataset.row_count} rows."
                    )
                else:
                    messages.info(request, f"This file is already stored as “{dataset.name}”.")
                return redirect("registry:dataset_detail", pk=dataset.pk)
    return render(
        request,
        "registry/dataset_form.html",
        {"form": form, "max_upload": settings.DATASET_MAX_UPLOAD_BYTES},
        status=400 if form.errors else 200,
    )


def dataset_detail(request, pk: int):
    dataset = get_object_or_404(selectors.dataset_list(), pk=pk)
    charts = registry_charts.dataset_charts(dataset)
    return render(
        request,
        "registry/dataset_detail.html",
        {
            "dataset": dataset,
            "charts": charts,
            "charts_for_js": [{"id": c["id"], "figure": c["figure"]} for c in charts],
            "target_form": DatasetTargetForm(
                columns=dataset.column_names, initial={"target": dataset.target}
            ),
        },
    )


@require_POST
def dataset_set_target(request, pk: int):
    dataset = get_object_or_404(Dataset, pk=pk)
    form = DatasetTargetForm(request.POST, columns=dataset.column_names)
    if form.is_valid():
        try:
            services.dataset_set_target(dataset=dataset, target=form.cleaned_data["target"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Target set to “{dataset.target}” ({dataset.target_kind}).")
    else:
        messages.error(request, "Choose one of the dataset's columns as the target.")
    return redirect("registry:dataset_detail", pk=pk)


@staff_required
@require_POST
def dataset_delete(request, pk: int):
    dataset = get_object_or_404(Dataset, pk=pk)
    try:
        services.dataset_delete(dataset=dataset)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("registry:dataset_detail", pk=pk)
    messages.success(request, f"Dataset “{dataset.name}” deleted.")
    return redirect("registry:dataset_list")


@require_http_methods(["GET", "POST"])
def dataset_synthetic(request):
    form = SyntheticDatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset, created = services.dataset_generate_synthetic(
                params=form.params(), name=form.cleaned_data["name"], created_by=request.user
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if not created:
                messages.info(request, f"Identical data already stored as “{dataset.name}”.")
            return redirect("registry:dataset_detail", pk=dataset.pk)
    return render(
        request,
        "registry/dataset_synthetic_form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


# --- Model registry pages ---------------------------------------------------------------------

# The stage buttons a staff user sees on a version page: (to_stage, label, button class).
STAGE_ACTIONS = [
    (ModelVersion.Stage.PRODUCTION, "Promote to production", ""),
    (ModelVersion.Stage.STAGING, "Move to staging", "secondary"),
    (ModelVersion.Stage.ARCHIVED, "Archive", "contrast outline"),
]


def _hub_context(request, mv: ModelVersion) -> dict:
    exports = list(mv.hub_exports.all()[:10])
    return {
        "hub_exports": exports,
        "hub_any_active": any(not job.is_finished for job in exports),
        "hub_token_source": services.hub_token_source(request.user),
        "hub_endpoint": settings.HF_ENDPOINT,
        "hub_default_repo": mv.hub_repo_id or f"{request.user.username}/{mv.registered_model.name}",
    }


@staff_required
@require_POST
def version_hub_export(request, name: str, version: int):
    mv = _version_or_404(name, version)
    try:
        services.hub_export_create(
            version=mv,
            repo_id=request.POST.get("repo_id", ""),
            private=bool(request.POST.get("private")),
            actor=request.user,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Export queued; a worker uploads it.")
    return redirect(reverse("registry:version_detail", args=[name, version]) + "#hub-export")


@require_GET
def version_hub_export_rows(request, name: str, version: int):
    mv = _version_or_404(name, version)
    exports = list(mv.hub_exports.all()[:10])
    return render(
        request,
        "registry/_hub_export_rows.html",
        {"exports": exports, "any_active": any(not job.is_finished for job in exports)},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def version_import(request):
    """Staff: register a version from an export folder on the server or a Hub repository."""
    from pathlib import Path

    source = request.POST.get("source", "").strip()
    model = request.POST.get("model", "").strip()
    error = ""
    if request.method == "POST":
        try:
            if Path(source).is_dir():
                version = services.model_version_import(
                    source=Path(source), model_name=model, actor=request.user
                )
            elif services.hub.REPO_ID.match(source):
                version = services.model_version_import_repo(
                    repo_id=source, model_name=model, actor=request.user
                )
            else:
                raise InvalidInput(f"{source!r} is neither an export folder nor owner/name.")
        except DomainError as exc:
            error = exc.message
        except Exception as exc:  # noqa: BLE001 - a download's failure, shown to the person
            error = f"The import failed: {type(exc).__name__}."
        else:
            messages.success(request, f"Imported as {version}.")
            return redirect(
                "registry:version_detail",
                name=version.registered_model.name,
                version=version.version,
            )
    return render(
        request,
        "registry/import.html",
        {"source": source, "model": model, "error": error, "hub_endpoint": settings.HF_ENDPOINT},
        status=400 if error else 200,
    )


@staff_required
@require_POST
def hub_token(request):
    """Store, replace or remove the user's own Hub token (it is never shown again)."""
    token = "" if request.POST.get("remove") else request.POST.get("token", "")
    try:
        services.hub_token_set(user=request.user, token=token)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Hub token stored." if token else "Hub token removed.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("registry:model_list")
    return redirect(target)


def _slices_param(request) -> str | None:
    """?slices=a,b or repeated ?slice=a&slice=b (the page's checkboxes); None when absent."""
    if "slices" in request.GET:
        return request.GET["slices"]
    if "slice" in request.GET or "card" in request.GET:
        return ",".join(request.GET.getlist("slice"))
    return None


def _card_query(picked: list[str] | None) -> str:
    return "" if picked is None else "?slices=" + ",".join(picked)


@require_GET
def version_card(request, name: str, version: int, fmt: str):
    """The version's model card as README.md (Hugging Face) or card.json (Model Card
    Toolkit), generated from the records now; ?slices= picks the sliced features."""
    mv = _version_or_404(name, version)
    facts = cards.card_facts(mv, slices=cards.parse_slices(_slices_param(request), mv))
    if fmt == "json":
        response = JsonResponse(cards.card_json(facts), json_dumps_params={"indent": 2})
        filename = f"{name}-v{version}.card.json"
    else:
        response = HttpResponse(
            cards.card_markdown(facts), content_type="text/markdown; charset=utf-8"
        )
        filename = "README.md"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _version_or_404(name: str, version: int) -> ModelVersion:
    try:
        return selectors.model_version_get(name, version)
    except ModelVersion.DoesNotExist:
        raise Http404(f"Model {name!r} has no version {version}.")


@require_GET
def model_list(request):
    return render(
        request, "registry/model_list.html", {"rows": selectors.registered_model_summaries()}
    )


@require_GET
def model_detail(request, name: str):
    model = get_object_or_404(RegisteredModel, name=name)
    versions = list(selectors.model_version_list(model))
    production = next((v for v in versions if v.stage == ModelVersion.Stage.PRODUCTION), None)
    default_b = versions[0] if versions else None
    default_a = production if production and production != default_b else None
    if default_a is None and len(versions) > 1:
        default_a = versions[1]
    return render(
        request,
        "registry/model_detail.html",
        {
            "model": model,
            "versions": versions,
            "production": production,
            "compare_a": default_a.version if default_a else None,
            "compare_b": default_b.version if default_b else None,
        },
    )


@require_GET
def version_detail(request, name: str, version: int):
    mv = _version_or_404(name, version)
    services.model_version_shap_importance(version=mv)  # older versions: computed once
    picked = cards.parse_slices(_slices_param(request), mv)
    facts = cards.card_facts(mv, slices=picked)
    card = cards.card_markdown(facts)
    charts = registry_charts.model_version_charts(mv)
    allowed = ALLOWED_TRANSITIONS.get(mv.stage, set())
    actions = [
        {
            "stage": stage,
            "label": label,
            "css": css,
            "disabled": mv.is_corrupt and stage == "production",
        }
        for stage, label, css in STAGE_ACTIONS
        if stage in allowed
    ]
    job = mv.training_job
    return render(
        request,
        "registry/version_detail.html",
        {
            "model": mv.registered_model,
            "version": mv,
            "metric_rows": selectors.model_version_metric_rows(mv),
            "per_class": selectors.model_version_per_class(mv),
            "charts": charts,
            "charts_for_js": [{"id": c["id"], "figure": c["figure"]} for c in charts],
            "history": selectors.model_version_history(mv),
            "actions": actions,
            "job": job,
            "trial_count": job.trials.count() if job else None,
            "artifact_files": sorted((mv.artifact_files or {}).items()),
            "card_html": cards.card_html(card),
            **_hub_context(request, mv),
            "card_slices": facts["slice_choices"],
            "card_picked": list(facts["slices"]),
            "card_query": _card_query(picked),
        },
    )


@staff_required
@require_POST
def version_transition(request, name: str, version: int):
    mv = _version_or_404(name, version)
    to_stage = request.POST.get("to_stage", "")
    reason = request.POST.get("reason", "").strip()
    try:
        moved = services.model_version_transition(
            version=mv, to_stage=to_stage, actor=request.user, reason=reason
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{name} v{moved.version} moved to {moved.get_stage_display()}.")
    return redirect("registry:version_detail", name=name, version=version)


@require_GET
def version_compare(request, name: str):
    model = get_object_or_404(RegisteredModel, name=name)
    try:
        a_number, b_number = int(request.GET["a"]), int(request.GET["b"])
    except (KeyError, ValueError):
        messages.error(request, "Choose two versions to compare.")
        return redirect("registry:model_detail", name=name)
    a = _version_or_404(name, a_number)
    b = _version_or_404(name, b_number)
    comparison = {
        **selectors.model_version_compare(a, b),
        "charts": registry_charts.model_version_compare_charts(a, b),
    }
    return render(
        request,
        "registry/version_compare.html",
        {
            "model": model,
            "a": a,
            "b": b,
            "versions": list(model.versions.order_by("-version").values_list("version", flat=True)),
            "comparison": comparison,
            "charts_for_js": [{"id": c["id"], "figure": c["figure"]} for c in comparison["charts"]],
        },
    )
