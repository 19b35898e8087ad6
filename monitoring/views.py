import hmac
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.costs import KINDS as COST_KINDS
from core.errors import DomainError
from monitoring import charts as drift_charts
from monitoring import prometheus, selectors, services
from monitoring.forms import DriftMonitorForm, DriftUploadForm, WebhookForm
from monitoring.models import DriftCheck, DriftMonitor, Webhook
from registry.selectors import registered_model_get


def _bearer_token(request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# Prometheus cannot log in: the endpoint is open unless METRICS_TOKEN asks for a bearer token.
@login_not_required
@never_cache
@require_GET
def metrics(request):
    expected = settings.METRICS_TOKEN
    if expected and not hmac.compare_digest(_bearer_token(request).encode(), expected.encode()):
        response = HttpResponse(
            "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = prometheus.metrics_exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)


# -- drift pages -------------------------------------------------------------------------------


@require_GET
def drift(request):
    """The Drift tab: every monitor with its latest verdict and next run."""
    return render(request, "monitoring/drift_list.html", {"rows": selectors.drift_monitor_rows()})


def _monitor_or_404(name: str) -> DriftMonitor:
    model = registered_model_get(name)
    if model is None:
        raise Http404(f"There is no model named {name!r}.")
    return services.drift_monitor_ensure(model=model)


@require_http_methods(["GET", "POST"])
def drift_model(request, name: str):
    """One model's monitor: its settings (staff may edit), checks, timeline and heatmap."""
    monitor = _monitor_or_404(name)
    form = DriftMonitorForm(instance=monitor)
    if request.method == "POST":
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can change a drift monitor.")
        form = DriftMonitorForm(request.POST, instance=DriftMonitor.objects.get(pk=monitor.pk))
        if form.is_valid():
            try:
                services.drift_monitor_save(
                    monitor=DriftMonitor.objects.get(pk=monitor.pk), **form.cleaned_data
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(
                    request, f"Drift monitor of {name} saved; its schedule is in sync."
                )
                return redirect("monitoring:drift_model", name=name)
    checks = selectors.drift_check_list(monitor)
    retrainings, promotions = selectors.drift_timeline_events(monitor)
    charts = [
        c
        for c in (
            drift_charts.timeline_chart(
                checks,
                threshold=monitor.dataset_threshold,
                retrainings=retrainings,
                promotions=promotions,
            ),
            drift_charts.heatmap_chart(checks),
        )
        if c is not None
    ]
    return render(
        request,
        "monitoring/drift_model.html",
        {
            "monitor": monitor,
            "form": form,
            "upload_form": DriftUploadForm(),
            "checks": checks[:50],
            "charts": charts,
            "charts_for_js": [{"id": c["id"], "figure": c["figure"]} for c in charts],
            "production": selectors.production_version(monitor),
            "next_run": selectors.drift_monitor_next_run(monitor),
        },
        status=400 if form.errors else 200,
    )


@require_POST
def drift_check_now(request, name: str):
    monitor = _monitor_or_404(name)
    upload = None
    if request.FILES:
        upload_form = DriftUploadForm(request.POST, request.FILES)
        if not upload_form.is_valid():
            messages.error(request, "Choose a CSV file to check.")
            return redirect("monitoring:drift_model", name=name)
        upload = upload_form.cleaned_data["file"]
    try:
        if upload is not None:
            with upload.open("rb") as source:
                check = services.drift_check_create(
                    monitor=monitor, actor=request.user, upload=source
                )
        else:
            check = services.drift_check_create(monitor=monitor, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("monitoring:drift_model", name=name)
    messages.success(request, f"Drift check {check.pk} queued.")
    return redirect("monitoring:drift_check", pk=check.pk)


@require_GET
def drift_check_detail(request, pk: int):
    check = get_object_or_404(
        DriftCheck.objects.select_related("model_version__registered_model", "monitor"), pk=pk
    )
    features = sorted(
        check.features, key=lambda f: (not f.get("drifted"), -(f.get("effect") or 0.0))
    )
    overlays = {f["name"]: drift_charts.feature_chart(f) for f in features}
    return render(
        request,
        "monitoring/drift_check.html",
        {
            "check": check,
            "features": features,
            "overlays": overlays,
            "first_feature": features[0]["name"] if features else None,
        },
    )


@never_cache
@require_GET
def drift_check_status_fragment(request, pk: int):
    check = get_object_or_404(DriftCheck, pk=pk)
    return render(request, "monitoring/_drift_check_status.html", {"check": check})


@require_GET
def drift_check_report(request, pk: int):
    """Evidently's HTML report of a check, as a download."""
    check = get_object_or_404(DriftCheck, pk=pk)
    path = Path(check.report_path) if check.report_path else None
    if path is None or not path.is_file():
        raise Http404(f"Drift check {pk} has no Evidently report.")
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=f"drift-check-{pk}-evidently.html"
    )


@require_POST
def drift_retrain_now(request, name: str):
    """Staff: retrain the model now; the page goes to the new training job."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can start a retraining.")
    monitor = _monitor_or_404(name)
    try:
        retraining = services.retraining_start(monitor=monitor, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("monitoring:drift_model", name=name)
    messages.success(
        request,
        f"Retraining {retraining.pk} started: {retraining.n_window_rows} labelled predictions "
        f"added to the training data, {retraining.n_holdout_rows} held out for the comparison.",
    )
    return redirect("training:job_detail", pk=retraining.training_job_id)


@require_GET
def monitoring_overview(request):
    """Every production model's last hour, each linking to its history."""
    return render(request, "monitoring/overview.html", {"rows": selectors.performance_overview()})


@require_GET
def monitoring_model(request, name: str):
    """One model over the last hour, day or week (?range=): latency percentiles, throughput,
    error rate, live and estimated accuracy per version, with what happened on the same axis."""
    model = registered_model_get(name)
    if model is None:
        raise Http404(f"There is no model named {name!r}.")
    chosen = request.GET.get("range", "day")
    if chosen not in selectors.RANGES:
        chosen = "day"
    since = timezone.now() - selectors.RANGES[chosen]
    bucket = selectors.BUCKETS[chosen]
    points = selectors.performance_history(model.pk, since=since, bucket_seconds=bucket)
    events = selectors.performance_events(model.pk, since=since)
    charts = drift_charts.performance_charts(points, events, bucket_seconds=bucket)
    return render(
        request,
        "monitoring/monitoring_model.html",
        {
            "model": model,
            "range": chosen,
            "ranges": list(selectors.RANGES),
            "snapshots": sum(p.snapshots for p in points),
            "bucket_minutes": bucket // 60,
            "events": events[-20:][::-1],
            "feed": selectors.event_feed(model_name=model.name, limit=20),
            "charts": charts,
            "charts_for_js": [{"id": c["id"], "figure": c["figure"]} for c in charts],
        },
    )


def _staff_only(request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can manage webhooks.")


@require_http_methods(["GET", "POST"])
def webhooks(request):
    """Staff: the webhooks, a form for a new one (its secret shown once), each one's last
    deliveries, and the event feed they are fed from."""
    _staff_only(request)
    form = WebhookForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        try:
            webhook, secret = services.webhook_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Webhook {webhook.url} created.")
            form = WebhookForm()
    return render(
        request,
        "monitoring/webhooks.html",
        {
            "form": form,
            "secret": secret,
            "webhooks": selectors.webhook_rows(),
            "events": selectors.event_feed(limit=30),
        },
        status=400 if form.errors else 200,
    )


@require_POST
def webhook_test(request, pk: int):
    _staff_only(request)
    webhook = get_object_or_404(Webhook, pk=pk)
    services.webhook_send_test(webhook=webhook)
    messages.success(request, f"Test event queued for {webhook.url}; its delivery shows below.")
    return redirect("monitoring:webhooks")


@require_POST
def webhook_delete(request, pk: int):
    _staff_only(request)
    webhook = get_object_or_404(Webhook, pk=pk)
    webhook.delete()
    messages.success(request, f"Webhook {webhook.url} deleted.")
    return redirect("monitoring:webhooks")


@require_GET
def costs(request):
    """What the platform cost over the last day, week or month (?range=), for one model
    (?model=) or all: cost per day by kind, per version, per 1,000 predictions, and the most
    expensive training jobs."""
    chosen = request.GET.get("range", "week")
    if chosen not in selectors.COST_RANGES:
        chosen = "week"
    model = request.GET.get("model") or None
    since = timezone.now() - selectors.COST_RANGES[chosen]
    by_day = selectors.cost_report(group_by=("day", "kind"), since=since, model=model)
    per_kind = selectors.cost_report(group_by=("kind",), since=since, model=model)
    per_version = selectors.cost_per_version(since=since, model=model)
    charts = drift_charts.cost_charts(by_day, per_version, COST_KINDS)
    return render(
        request,
        "monitoring/costs.html",
        {
            "range": chosen,
            "ranges": list(selectors.COST_RANGES),
            "model": model,
            "models": selectors.cost_models(),
            "currency": by_day["currency"],
            "totals": by_day["totals"],
            "per_kind": [
                dict(row, label=COST_KINDS.get(row["kind"], row["kind"]))
                for row in per_kind["rows"]
            ],
            "per_version": per_version,
            "jobs": selectors.costliest_training_jobs(since=since, model=model),
            "rates": selectors.cost_rates_in_effect(),
            "interval_minutes": settings.COST_INTERVAL_SECONDS // 60,
            "charts": charts,
            "charts_for_js": [{"id": c["id"], "figure": c["figure"]} for c in charts],
        },
    )
