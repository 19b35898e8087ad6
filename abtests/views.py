"""The A/B Tests tab: running and past tests, the start form with its calculator, and a
test's page (scoreboard, charts, SRM and guardrails, the decision in one sentence, and the
staff's buttons)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from abtests import charts as ab_charts
from abtests import selectors, services
from abtests.forms import ABTestForm
from abtests.models import ABTest, Snapshot
from abtests.serializers import SETTINGS
from core.errors import DomainError
from monitoring.selectors import retraining_for_ab_test
from registry.selectors import (
    Stage,
    model_version_list_by_name,
    model_version_production_of,
    registered_model_get,
    registered_model_list,
)


@require_GET
def abtest_list(request):
    tests = list(selectors.abtest_list()[:200])
    running = [t for t in tests if t.status == ABTest.Status.RUNNING or t.watch_until]
    return render(
        request,
        "abtests/list.html",
        {
            "running": running,
            "past": [t for t in tests if t not in running],
            "models": [m for m in registered_model_list() if m.version_count > 1],
        },
    )


def _candidates(model_name: str):
    return [
        v
        for v in model_version_list_by_name(model_name).order_by("-version")
        if v.stage not in (Stage.PRODUCTION, Stage.ARCHIVED) and not v.integrity_error
    ]


@require_http_methods(["GET", "POST"])
def abtest_new(request, name: str):
    model = registered_model_get(name)
    if model is None:
        raise Http404(f"There is no model named {name!r}.")
    champion = model_version_production_of(model.pk)
    versions = _candidates(name)
    initial = {}
    staged = next((v for v in versions if v.stage == Stage.STAGING), None)
    if staged is not None:
        initial["challenger"] = staged.version
    form = ABTestForm(request.POST or None, versions=versions, initial=initial)
    if request.method == "POST":
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can start an A/B test.")
        if form.is_valid():
            data = form.cleaned_data
            challenger = next(v for v in versions if v.version == data["challenger"])
            try:
                test = services.abtest_create(
                    challenger=challenger,
                    mode=data["mode"],
                    actor=request.user,
                    start=data["start"],
                    **{k: data[k] for k in SETTINGS},
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"{test} {test.get_status_display().lower()}.")
                return redirect("abtests:detail", pk=test.pk)
    baseline = (champion.metrics or {}).get("accuracy") if champion else None
    return render(
        request,
        "abtests/new.html",
        {
            "model": model,
            "champion": champion,
            "form": form,
            "baseline": baseline,
            "running": selectors.abtest_running_for(model.pk),
        },
        status=400 if form.errors else 200,
    )


@require_GET
def abtest_detail(request, pk: int):
    test = get_object_or_404(selectors.abtest_list(), pk=pk)
    snapshots = selectors.abtest_snapshots(test)
    watch = selectors.abtest_snapshots(test, Snapshot.Phase.WATCH)
    latest = snapshots[-1] if snapshots else None
    charts = [
        c
        for c in (
            ab_charts.interval_chart(snapshots, alpha=test.alpha),
            ab_charts.prob_better_chart(snapshots),
            ab_charts.accuracy_chart(snapshots + watch),
        )
        if c is not None
    ]
    return render(
        request,
        "abtests/detail.html",
        {
            "test": test,
            "confidence": 1 - test.alpha,
            "latest": latest,
            "latest_watch": watch[-1] if watch else None,
            "scoreboard": selectors.scoreboard(test, latest),
            "watch_board": selectors.scoreboard(test, watch[-1]) if watch else [],
            "decisions": selectors.abtest_decisions(test),
            "retraining": retraining_for_ab_test(test.pk),
            "charts": charts,
            "charts_for_js": [{"id": c["id"], "figure": c["figure"]} for c in charts],
        },
    )


def _staff_action(request, pk: int, act, done: str):
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can change an A/B test.")
    test = get_object_or_404(ABTest, pk=pk)
    try:
        act(test)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("abtests:detail", pk=pk)


@require_POST
def abtest_stop(request, pk: int):
    reason = request.POST.get("reason", "")[:500]
    return _staff_action(
        request,
        pk,
        lambda t: services.abtest_stop(test=t, actor=request.user, reason=reason),
        "Test stopped.",
    )


@require_POST
def abtest_promote(request, pk: int):
    return _staff_action(
        request,
        pk,
        lambda t: services.abtest_promote(test=t, actor=request.user),
        "Challenger promoted to production.",
    )


@require_POST
def abtest_rollback(request, pk: int):
    return _staff_action(
        request,
        pk,
        lambda t: services.abtest_rollback(test=t, actor=request.user),
        "Rolled back to the old champion.",
    )


@require_POST
def abtest_evaluate(request, pk: int):
    test = get_object_or_404(ABTest, pk=pk)
    if services.abtest_evaluate(test_id=test.pk, actor=request.user) is None:
        messages.error(request, "The test neither runs nor watches a promotion.")
    else:
        messages.success(request, "Evaluated now.")
    return redirect("abtests:detail", pk=pk)
