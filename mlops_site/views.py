from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from rest_framework.authtoken.models import Token

from mlops_site.health import broker_check, database_check
from monitoring import selectors as monitoring_selectors
from monitoring import services as monitoring_services
from registry import selectors as registry_selectors
from training import selectors as training_selectors


@login_not_required
@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_GET
def readyz(request):
    db_ok, db_detail = database_check()
    broker_ok, broker_detail = broker_check()
    ready = db_ok and broker_ok
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {
            "database": {"ok": db_ok, "detail": db_detail},
            "broker": {"ok": broker_ok, "detail": broker_detail},
        },
    }
    return JsonResponse(body, status=200 if ready else 503)


@require_GET
def dashboard(request):
    return render(
        request,
        "dashboard.html",
        {
            "datasets": registry_selectors.dataset_list()[:5],
            "dataset_count": registry_selectors.dataset_list().count(),
            "board": monitoring_selectors.operator_board(
                registry_selectors.registered_model_summaries()[:12]
            ),
            "jobs": training_selectors.training_job_list()[:5],
            "events": monitoring_selectors.event_feed(limit=15),
        },
    )


@never_cache
@require_GET
def system_status_fragment(request):
    status = monitoring_selectors.system_status_get(ping_timeout=1.0)
    return render(request, "monitoring/_system_status.html", {"status": status})


@require_POST
def worker_probe_start(request):
    monitoring_services.worker_probe_request(requested_by=request.user)
    messages.info(
        request, "Probe sent to the worker queue; the status below updates when a worker answers."
    )
    return redirect("dashboard")


@login_required
def api_token(request):
    token = Token.objects.filter(user=request.user).first()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            # Rotating: the old key stops working the moment the new one exists.
            Token.objects.filter(user=request.user).delete()
            token = Token.objects.create(user=request.user)
            messages.success(
                request, "New API token created. Copy it now; it replaces any earlier one."
            )
            return render(request, "account/api_token.html", {"token": token, "fresh": True})
        if action == "revoke":
            Token.objects.filter(user=request.user).delete()
            messages.success(request, "API token revoked.")
            return redirect("api_token")
        messages.error(request, "Unknown action.")
        return redirect("api_token")
    return render(request, "account/api_token.html", {"token": token, "fresh": False})
