"""The Predict pages: choose a model, predict one row from a form, record true labels, score a
CSV in the background and follow the job."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.charts import BLUE, LIGHT_GREY
from core.errors import Conflict, DomainError
from core.uploads import upload_form_refusing_oversize
from inference import selectors
from inference.batch import use_batch_upload_limit
from inference.charts import waterfall_chart
from inference.forms import BatchScoringForm, FeedbackForm, PredictionForm
from inference.models import BatchScoringJob, PredictionLog
from inference.services import (
    batch_scoring_job_create,
    explanations_serve,
    feedback_record,
    predictions_serve,
)
from inference.validation import RequestError
from registry.selectors import Stage, registered_model_get, registered_model_summaries

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from registry.models import ModelVersion, RegisteredModel

RECENT_PREDICTIONS = 20
RECENT_BATCH_JOBS = 10


@require_GET
def predict_model_list(request):
    rows = registered_model_summaries()
    return render(
        request,
        "inference/predict_list.html",
        {
            "rows": [r for r in rows if r["production"]],
            "without_production": [r for r in rows if not r["production"]],
        },
    )


def _pinned(request) -> int | None:
    """The version number the page was asked for (?version=N), if any."""
    raw = request.GET.get("version")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise Http404(f"{raw!r} is not a version number.") from None


def _model_or_404(name: str) -> RegisteredModel:
    model = registered_model_get(name)
    if model is None:
        raise Http404(f"There is no model named {name!r}.")
    return model


def _page_version(request, model: RegisteredModel) -> ModelVersion | None:
    """?version=N, else the production version (None when the model has none)."""
    versions = model.versions.select_related("registered_model")
    number = _pinned(request)
    if number is None:
        return versions.filter(stage=Stage.PRODUCTION).first()
    try:
        return versions.get(version=number)
    except ObjectDoesNotExist:
        raise Http404(f"Model {model.name!r} has no version {number}.") from None


def _page_url(name: str, version: int | None = None, anchor: str = "") -> str:
    url = reverse("inference:predict_model", args=[name])
    if version is not None:
        url += f"?version={version}"
    return url + (f"#{anchor}" if anchor else "")


def _probability_chart(class_labels: list[str], probabilities: list[float], label: str) -> dict:
    return {
        "id": "chart-probabilities",
        "figure": {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": probabilities,
                    "y": class_labels,
                    "text": [f"{p:.3f}" for p in probabilities],
                    "textposition": "auto",
                    "marker": {"color": [BLUE if c == label else LIGHT_GREY for c in class_labels]},
                    "hovertemplate": "%{y}: %{x:.4f}<extra></extra>",
                }
            ],
            "layout": {
                "xaxis": {"title": {"text": "probability"}, "range": [0, 1]},
                "yaxis": {"type": "category", "autorange": "reversed"},
                "margin": {"l": 120, "r": 20, "t": 10, "b": 45},
                "height": 90 + 40 * len(class_labels),
            },
        },
    }


def _explanation(name: str, instance: dict, version: int) -> dict | None:
    """The row just predicted, explained by the version that answered (None, with the
    reason logged, when it cannot be: the page still shows the prediction)."""
    try:
        explained = explanations_serve(model_name=name, instances=[instance], version=version)
    except DomainError as exc:
        logger.warning("predict page: no explanation for %s v%s: %s", name, version, exc)
        return None
    item = explained.rows()[0]
    top = sorted(item["contributions"].items(), key=lambda kv: -abs(kv[1]))[:3]
    return {
        "method": explained.method,
        "explained_class": item["explained_class"],
        "output": item["output"],
        "base_value": item["base_value"],
        "top": top,
        "chart": waterfall_chart(item),
    }


def _recent_rows(name: str) -> list[dict]:
    rows = []
    for p in selectors.prediction_list_recent(model_name=name, limit=RECENT_PREDICTIONS):
        probabilities = p.probabilities or {}
        rows.append(
            {
                "prediction": p,
                "max_probability": max(probabilities.values()) if probabilities else None,
                "class_labels": p.model_version.class_labels,
            }
        )
    return rows


def _accuracy_rows(model: RegisteredModel, shown: ModelVersion | None) -> list[dict]:
    """Live accuracy of every version that served predictions, and of the one shown."""
    versions = list(model.versions.order_by("-version"))
    accuracy = selectors.live_accuracy_list(version_ids=[v.pk for v in versions])
    return [
        {"version": v, "live": accuracy.get(v.pk)}
        for v in versions
        if v.pk in accuracy or v == shown or v.stage == Stage.PRODUCTION
    ]


def _batch_rows_context(name: str) -> dict:
    jobs = list(selectors.batch_job_list(model_name=name, limit=RECENT_BATCH_JOBS))
    return {
        "model_name": name,
        "jobs": jobs,
        "any_active": any(not job.is_finished for job in jobs),
    }


def _render_page(
    request,
    model: RegisteredModel,
    version: ModelVersion | None,
    *,
    form: PredictionForm | None = None,
    result: dict | None = None,
    batch_form: BatchScoringForm | None = None,
    status: int = 200,
):
    pinned = _pinned(request)
    if version is not None and form is None:
        example = version.input_example[0] if version.input_example else None
        form = PredictionForm(features=version.signature.get("features", []), example=example)
    charts = [result["chart"]] if result else []
    if result and result.get("explanation"):
        charts.append(result["explanation"]["chart"])
    return render(
        request,
        "inference/prediction_form.html",
        {
            "model": model,
            "version": version,
            "versions": list(model.versions.order_by("-version")),
            "form": form,
            "result": result,
            "query": f"?version={pinned}" if pinned is not None else "",
            "recent": _recent_rows(model.name),
            "accuracy_rows": _accuracy_rows(model, version),
            "batch_form": batch_form or BatchScoringForm(),
            "max_upload": settings.BATCH_SCORING_MAX_BYTES,
            **_batch_rows_context(model.name),
            "charts_for_js": charts,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def predict_model(request, name: str):
    model = _model_or_404(name)
    version = _page_version(request, model)
    if request.method == "GET" or version is None:
        return _render_page(request, model, version)
    form = PredictionForm(request.POST, features=version.signature.get("features", []))
    result = None
    if form.is_valid():
        try:
            served = predictions_serve(
                model_name=name,
                instances=[form.row()],
                # Pinned (?version=N) or not: unpinned, the page is served like any request
                # that names no version (production, or what a router such as an A/B test
                # chooses), and the result says which version answered.
                version=_pinned(request),
                source=PredictionLog.Source.PAGE,
            )
        except RequestError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            row = served.rows()[0]
            probabilities = [row["probabilities"][c] for c in served.class_labels]
            result = {
                "id": row["id"],
                "label": row["label"],
                "probabilities": list(zip(served.class_labels, probabilities, strict=True)),
                "unknown_categories": row.get("unknown_categories", []),
                "version": served.target.version,
                "ab_test": served.route.ab_test_id,
                "arm": served.route.arm,
                "chart": _probability_chart(served.class_labels, probabilities, row["label"]),
                "explanation": _explanation(name, form.row(), served.target.version),
            }
    return _render_page(
        request, model, version, form=form, result=result, status=400 if form.errors else 200
    )


@require_POST
def prediction_feedback(request, name: str):
    back = _page_url(name, _pinned(request), anchor="recent")
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the true label of a prediction from the table.")
        return redirect(back)
    data = form.cleaned_data
    short = str(data["prediction_id"])[:8]
    try:
        outcome = feedback_record(
            prediction_id=data["prediction_id"], label=data["label"], overwrite=data["overwrite"]
        )
    except Conflict:
        current = (
            PredictionLog.objects.filter(pk=data["prediction_id"])
            .values_list("label", flat=True)
            .first()
        )
        messages.warning(
            request,
            f"Prediction {short}… is already labelled “{current}”: open “change”, tick "
            f"“overwrite” and record again to replace it with “{data['label']}”.",
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        verdict = {True: "correct", False: "wrong"}.get(outcome.correct, "")
        messages.success(
            request,
            f"Prediction {short}… {outcome.status}: true label “{data['label']}”"
            + (f" (the prediction was {verdict})." if verdict else "."),
        )
    return redirect(back)


@csrf_exempt
@require_POST
def batch_job_new(request, name: str):
    # The batch upload limit has to be in place before the CSRF check reads the body, so the
    # check runs inside, after the swap.
    use_batch_upload_limit(request)
    return _batch_job_new(request, name)


@csrf_protect
def _batch_job_new(request, name: str):
    model = _model_or_404(name)
    version = _page_version(request, model)
    form = upload_form_refusing_oversize(BatchScoringForm, request)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            with upload.open("rb") as source:
                job = batch_scoring_job_create(
                    model_name=name,
                    file=source,
                    filename=upload.name,
                    version=_pinned(request),
                    actor=request.user,
                )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"Batch job {job.pk} queued: {job.original_filename or 'the file'} against "
                f"{name} v{job.model_version.version}.",
            )
            return redirect("inference:batch_job_detail", pk=job.pk)
    return _render_page(request, model, version, batch_form=form, status=400)


@never_cache
@require_GET
def batch_job_rows_fragment(request, name: str):
    return render(request, "inference/_batch_job_rows.html", _batch_rows_context(name))


def _job_context(job: BatchScoringJob) -> dict:
    started = job.started_at
    elapsed = ((job.finished_at or timezone.now()) - started).total_seconds() if started else None
    return {"job": job, "percent": round(job.progress * 100), "elapsed_s": elapsed}


def _job_or_404(pk: int) -> BatchScoringJob:
    return get_object_or_404(
        BatchScoringJob.objects.select_related("registered_model", "model_version", "created_by"),
        pk=pk,
    )


@require_GET
def batch_job_detail(request, pk: int):
    job = _job_or_404(pk)
    return render(
        request,
        "inference/batch_job_detail.html",
        {**_job_context(job), "class_labels": job.model_version.class_labels},
    )


@never_cache
@require_GET
def batch_job_status_fragment(request, pk: int):
    return render(request, "inference/_batch_job_status.html", _job_context(_job_or_404(pk)))
