"""deploy/: Prometheus's config and alert rules and Grafana's provisioned dashboard parse, the
compose profile wires them to services that exist, and every modelyard_* series they use
appears in a real /metrics scrape of a platform with a model, an A/B test, a drift check and
an event."""

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.abtests.helpers import champion_and_challenger, serve, start_test

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SERIES = re.compile(r"\bmodelyard_[a-z_]+")
# Histogram and counter suffixes Prometheus derives from a family's name.
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _used() -> set[str]:
    alerts = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    exprs = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana/dashboards/modelyard.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return {name for expr in exprs for name in SERIES.findall(expr)}


def test_the_deploy_files_parse_and_the_profile_names_real_services():
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["web:8000"]
    dashboard = json.loads((DEPLOY / "grafana/dashboards/modelyard.json").read_text())
    assert dashboard["uid"] == "modelyard-overview" and len(dashboard["panels"]) > 10
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name in ("prometheus", "grafana"):
        assert compose[name]["profiles"] == ["observability"]
        for volume in compose[name]["volumes"]:
            source = volume.split(":")[0]
            assert (REPO / source).exists(), source
    assert "web" in compose["prometheus"]["depends_on"]
    assert compose["grafana"]["depends_on"] == ["prometheus"]


@pytest.mark.django_db
def test_every_series_the_dashboard_and_alerts_use_is_in_a_real_scrape(client, api_client):
    # given a platform that has served, labelled, tested, checked and failed something
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from abtests.services import abtest_evaluate
    from monitoring.models import DriftCheck, DriftMonitor, Event
    from tests.inference.models import feature_rows

    _, v2 = champion_and_challenger()
    test = start_test(v2, min_labelled_per_arm=5000)
    serve(test, "champion", requests=40, accuracy=0.8)
    serve(test, "challenger", requests=40, accuracy=0.9)
    abtest_evaluate(test_id=test.pk)
    api_client.post("/api/v1/models/adult/predict", {"instances": feature_rows(2)}, format="json")
    bad = feature_rows(1)[0]
    bad.pop("age")
    api_client.post("/api/v1/models/adult/predict", {"instances": [bad]}, format="json")
    monitor = DriftMonitor.objects.create(registered_model=v2.registered_model)
    DriftCheck.objects.create(
        monitor=monitor,
        model_version=v2,
        status="succeeded",
        verdict="drift",
        drift_share=0.5,
        weighted_drift_share=0.5,
        features=[{"name": "age", "effect": 0.3, "drifted": True}],
        performance={"estimated_accuracy": 0.8},
        config={},
    )
    Event.objects.create(kind="job.failed", summary="x")
    # and the serving CPU time of those requests has been priced
    from datetime import timedelta

    from monitoring.services import inference_costs_record

    assert inference_costs_record(now=timezone.now() + timedelta(hours=2)) >= 1
    every, _ = IntervalSchedule.objects.get_or_create(every=15, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="modelyard-beat-heartbeat",
        defaults={
            "task": "monitoring.beat_heartbeat",
            "interval": every,
            "last_run_at": timezone.now(),
        },
    )

    # when Prometheus scrapes
    text = client.get("/metrics").content.decode()
    exposed = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("modelyard_")
    }

    # then every series the dashboard and the alert rules name is there
    def present(name: str) -> bool:
        return name in exposed or any(name + s in exposed for s in SUFFIXES)

    missing = sorted(name for name in _used() if not present(name))
    assert missing == []
    assert {
        "modelyard_queue_depth",
        "modelyard_training_jobs",
        "modelyard_events_total",
        "modelyard_cost_total",
        "modelyard_cost_cpu_seconds_total",
    } <= exposed
