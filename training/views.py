from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError
from monitoring.selectors import training_job_cost
from training import charts as training_charts
from training import selectors
from training.forms import TrainingJobForm
from training.models import TrainingJob
from training.services import training_job_cancel, training_job_create

JOB_LIST_LIMIT = 100


def _job_rows(limit: int = JOB_LIST_LIMIT) -> list[dict]:
    jobs = list(selectors.training_job_list()[:limit])
    return [{"job": job, "progress": selectors.training_job_get_progress(job)} for job in jobs]


def _rows_context() -> dict:
    rows = _job_rows()
    return {"rows": rows, "any_active": any(not r["job"].is_finished for r in rows)}


@require_GET
def job_list(request):
    return render(
        request,
        "training/job_list.html",
        {**_rows_context(), "limit": JOB_LIST_LIMIT},
    )


@never_cache
@require_GET
def job_rows_fragment(request):
    return render(request, "training/_job_rows.html", _rows_context())


@require_http_methods(["GET", "POST"])
def job_new(request):
    form = TrainingJobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = training_job_create(**form.service_kwargs(), created_by=request.user)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"Training job {job.pk} queued: {job.n_trials} trials for “{job.model_name}”.",
            )
            return redirect("training:job_detail", pk=job.pk)
    return render(
        request,
        "training/job_form.html",
        {"form": form, "has_datasets": form.fields["dataset"].queryset.exists()},
        status=400 if form.errors else 200,
    )


def _status_context(job: TrainingJob) -> dict:
    return {"job": job, "progress": selectors.training_job_get_progress(job)}


@require_GET
def job_detail(request, pk: int):
    job = get_object_or_404(selectors.training_job_list(), pk=pk)
    trials = selectors.training_job_trials(job)
    charts = training_charts.training_job_charts(job, trials)
    best = selectors.training_job_best_trial(job, trials)
    return render(
        request,
        "training/job_detail.html",
        {
            **_status_context(job),
            "trials": trials,
            "best_trial": best,
            "direction": selectors.training_job_direction(job, trials),
            "cost": training_job_cost(job.pk),
            "charts": charts,
            "charts_for_js": [
                {"id": c["id"], "figure": c["figure"]} for c in charts if c["figure"] is not None
            ],
        },
    )


@never_cache
@require_GET
def job_status_fragment(request, pk: int):
    job = get_object_or_404(selectors.training_job_list(), pk=pk)
    return render(request, "training/_job_status.html", _status_context(job))


@require_POST
def job_cancel(request, pk: int):
    job = get_object_or_404(TrainingJob, pk=pk)
    try:
        job = training_job_cancel(job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if job.status == TrainingJob.Status.CANCELLED:
            messages.success(request, f"Training job {job.pk} cancelled before it started.")
        else:
            messages.info(
                request,
                f"Cancellation of training job {job.pk} requested; it stops after the current "
                "trial or epoch and keeps the trials finished so far.",
            )
    return redirect("training:job_detail", pk=pk)
