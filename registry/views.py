from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from mlops_site.errors import DomainError
from mlops_site.permissions import staff_required
from registry import selectors, services
from registry.csvfiles import human_bytes
from registry.forms import DatasetTargetForm, DatasetUploadForm, SyntheticDatasetForm
from registry.models import Dataset
from registry.uploads import upload_too_large


def dataset_list(request):
    return render(
        request,
        "registry/dataset_list.html",
        {"datasets": selectors.dataset_list(), "form": DatasetUploadForm()},
    )


@require_http_methods(["GET", "POST"])
def dataset_upload(request):
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        limit = upload_too_large(request)
        if limit:
            form = DatasetUploadForm(request.POST)
            form.is_valid()
            form.errors.pop("file", None)
            form.add_error(None, f"The file is larger than the {human_bytes(limit)} upload limit.")
        elif form.is_valid():
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
    charts = selectors.dataset_get_charts(dataset)
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
