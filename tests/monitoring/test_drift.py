"""Drift monitors and checks: schedules kept in sync, checks on the prediction-log window and
on uploads with a known answer, clear failures, the API, the pages and the command."""

import functools
import io
import json

import pandas as pd
import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.errors import InvalidInput
from engine.search import SearchConfig, SearchResult, run_search
from inference.models import PredictionLog
from monitoring import services
from monitoring.models import DriftCheck, DriftMonitor
from registry.models import ModelVersion
from registry.services import dataset_generate_synthetic, model_version_register
from registry.synthetic import SyntheticParams, generate

pytestmark = pytest.mark.django_db

REFERENCE = SyntheticParams(rows=3000, features=6, seed=11)


@functools.cache
def _trained() -> SearchResult:
    frame = generate(SyntheticParams(**{**REFERENCE.__dict__, "drifted": []}))
    config = SearchConfig(target="label", n_trials=1, families=["logreg"], seed=0)
    return run_search(frame, config, columns=[])


def _production(django_capture_on_commit_callbacks) -> ModelVersion:
    """A synthetic model in production, registered the way training registers it; the
    transition's on-commit work (the drift monitor) runs."""
    dataset, _ = dataset_generate_synthetic(params=REFERENCE)
    with django_capture_on_commit_callbacks(execute=True):
        version = model_version_register(model_name="synth", dataset=dataset, result=_trained())
    version.refresh_from_db()
    assert version.stage == ModelVersion.Stage.PRODUCTION
    return version


def _feature_rows(frame: pd.DataFrame) -> list[dict]:
    rows = frame.drop(columns=["label"]).to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows]


def _serve(api_client, frame: pd.DataFrame) -> list[str]:
    """Predict the frame's rows through the REST API; the prediction ids, in row order."""
    rows = _feature_rows(frame)
    ids = []
    for start in range(0, len(rows), 500):
        response = api_client.post(
            "/api/v1/models/synth/predict", {"instances": rows[start : start + 500]}, format="json"
        )
        assert response.status_code == 200, response.content
        ids += [p["id"] for p in response.json()["predictions"]]
    return ids


def _drifted(**knobs) -> pd.DataFrame:
    # The same seed draws the same population (class means); another row count draws a
    # fresh sample of it. The knobs alone move it.
    return generate(SyntheticParams(**{**REFERENCE.__dict__, "drifted": [], "rows": 3001, **knobs}))


# -- monitors and schedules --------------------------------------------------------------------


def test_a_first_production_version_gets_a_monitor_with_its_schedule(
    django_capture_on_commit_callbacks,
):
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    task = monitor.periodic_task
    assert task.task == "monitoring.run_scheduled_drift_check"
    assert json.loads(task.kwargs) == {"monitor_id": monitor.pk}
    assert task.queue == "monitoring" and task.enabled
    assert (task.interval.every, task.interval.period) == (60, IntervalSchedule.MINUTES)


def test_saving_a_monitor_updates_disables_and_reschedules_its_task(
    django_capture_on_commit_callbacks,
):
    monitor = DriftMonitor.objects.get(
        registered_model=_production(django_capture_on_commit_callbacks).registered_model
    )
    services.drift_monitor_save(monitor=monitor, interval_minutes=15)
    task = PeriodicTask.objects.get(pk=monitor.periodic_task_id)
    assert task.interval.every == 15 and task.crontab is None

    services.drift_monitor_save(monitor=monitor, schedule="crontab", crontab="30 2 * * 1-5")
    task.refresh_from_db()
    assert task.interval is None
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "2", "1-5")

    services.drift_monitor_save(monitor=monitor, enabled=False)
    task.refresh_from_db()
    assert not task.enabled
    assert PeriodicTask.objects.filter(task="monitoring.run_scheduled_drift_check").count() == 1


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"schedule": "crontab", "crontab": "* * *"}, "crontab"),
        ({"schedule": "crontab", "crontab": "99 * * * *"}, "crontab"),
        ({"schedule": "crontab", "crontab": ""}, "crontab"),
        ({"fdr_q": 2.0}, "fdr_q"),
        ({"interval_minutes": 0}, "interval_minutes"),
        ({"registered_model": None}, "registered_model"),
    ],
)
def test_a_bad_monitor_change_names_the_field_and_saves_nothing(
    django_capture_on_commit_callbacks, changes, field
):
    monitor = DriftMonitor.objects.get(
        registered_model=_production(django_capture_on_commit_callbacks).registered_model
    )
    with pytest.raises(InvalidInput) as caught:
        services.drift_monitor_save(monitor=monitor, **changes)
    assert caught.value.field == field
    stored = DriftMonitor.objects.get(pk=monitor.pk)
    assert (stored.schedule, stored.fdr_q, stored.interval_minutes) == ("interval", 0.05, 60)
    assert PeriodicTask.objects.get(pk=monitor.periodic_task_id).interval.every == 60


# -- checks ------------------------------------------------------------------------------------


def _check(monitor: DriftMonitor, **kwargs) -> DriftCheck:
    check = services.drift_check_create(monitor=monitor, enqueue=False, **kwargs)
    return services.drift_check_run(check_id=check.pk)


def test_the_window_check_names_the_shifted_features_only(
    api_client, django_capture_on_commit_callbacks
):
    # given production traffic in which x0 and x1 moved by one standard deviation
    version = _production(django_capture_on_commit_callbacks)
    _serve(api_client, _drifted(mean_shift=1.0, drift_features=2))
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)

    # when the monitor checks its window
    check = _check(monitor)

    # then exactly the moved features are drifted, and the verdict is drift
    assert check.status == DriftCheck.Status.SUCCEEDED, check.error
    assert check.verdict == DriftCheck.Verdict.DRIFT
    assert sorted(check.drifted_features) == ["x0", "x1"]
    assert (
        check.n_current == 3001
        and check.n_reference == len(version.reference_file.read_text().splitlines()) - 1
    )
    assert check.drift_share == pytest.approx(2 / 8)
    assert check.window_start <= check.window_end
    # and each feature row carries its test, q-value, effect and both sides' counts
    x0 = next(f for f in check.features if f["name"] == "x0")
    assert x0["test"] == "ks" and x0["q_value"] <= 0.05 and x0["effect"] > 0.5
    assert sum(x0["histogram"]["current"]) == 3001
    channel = next(f for f in check.features if f["name"] == "channel")
    assert channel["test"] == "chi2" and not channel["drifted"]
    # and the importance weights come from the version's permutation importances
    assert sum(f["importance"] for f in check.features) == pytest.approx(1.0)


def test_unchanged_traffic_is_quiet_and_a_small_window_is_insufficient(
    api_client, django_capture_on_commit_callbacks
):
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    _serve(api_client, _drifted().head(300))
    small = _check(monitor)
    assert small.status == DriftCheck.Status.SUCCEEDED
    assert small.verdict == DriftCheck.Verdict.INSUFFICIENT and small.n_current == 300
    assert small.features == [] and small.drift_share is None

    _serve(api_client, _drifted().iloc[300:])
    quiet = _check(monitor)
    assert quiet.verdict == DriftCheck.Verdict.NO_DRIFT
    assert quiet.drifted_features == []


def test_an_uploaded_csv_is_checked_and_one_missing_a_feature_is_refused(
    django_capture_on_commit_callbacks, settings
):
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    drifted = _drifted(category_shift=0.4)

    check = _check(monitor, upload=io.BytesIO(drifted.to_csv(index=False).encode()))
    assert check.source == DriftCheck.Source.UPLOAD
    assert check.drifted_features == ["channel"]

    before = DriftCheck.objects.count()
    with pytest.raises(InvalidInput, match="no column 'x3'") as caught:
        services.drift_check_create(
            monitor=monitor,
            upload=io.BytesIO(drifted.drop(columns=["x3"]).to_csv(index=False).encode()),
        )
    assert caught.value.field == "file"
    assert DriftCheck.objects.count() == before
    stored = list(settings.DRIFT_UPLOADS_DIR.glob("*.csv"))
    assert len(stored) == 1  # the accepted upload only


def _label(api_client, ids: list[str], frame: pd.DataFrame, share: float = 1.0) -> None:
    """Send the true labels of the first `share` of the served rows as bulk feedback."""
    labels = frame["label"].tolist()
    items = [
        {"prediction_id": pid, "label": label}
        for i, (pid, label) in enumerate(zip(ids, labels, strict=True))
        if i < share * len(labels)
    ]
    for start in range(0, len(items), 1000):
        response = api_client.post(
            "/api/v1/feedback", {"items": items[start : start + 1000]}, format="json"
        )
        assert response.status_code == 200, response.content


def test_concept_drift_is_found_by_performance_not_by_features(
    api_client, django_capture_on_commit_callbacks
):
    # given traffic whose labels changed (concept drift) but whose features did not, with a
    # third of it labelled
    version = _production(django_capture_on_commit_callbacks)
    drifted = _drifted(concept_drift=0.8)
    _label(api_client, _serve(api_client, drifted), drifted, share=1 / 3)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)

    # when the monitor checks the window
    check = _check(monitor)

    # then the feature tests stay quiet and the performance check flags the drop
    assert check.verdict == DriftCheck.Verdict.NO_DRIFT
    assert check.performance_drop
    perf = check.performance
    assert perf["n_labelled"] == 1001 and perf["n_window"] == 3001
    assert perf["live_accuracy"] < perf["test_accuracy"] - 0.2
    assert perf["accuracy_p_value"] < 1e-6
    # and the estimate from the served probabilities still believes the test accuracy:
    # without labels, a pure concept drift cannot be seen, which is why labels are asked for
    assert abs(perf["estimated_accuracy"] - perf["test_accuracy"]) < 0.05


def test_unchanged_labelled_traffic_keeps_its_accuracy(
    api_client, django_capture_on_commit_callbacks
):
    version = _production(django_capture_on_commit_callbacks)
    current = _drifted()
    _label(api_client, _serve(api_client, current), current, share=0.5)
    check = _check(DriftMonitor.objects.get(registered_model=version.registered_model))
    perf = check.performance
    assert not check.performance_drop, json.dumps(perf)
    assert abs(perf["live_accuracy"] - perf["test_accuracy"]) < 0.05
    assert abs(perf["estimated_accuracy"] - perf["live_accuracy"]) < 0.05
    assert perf["accuracy_p_value"] > 0.01


def test_a_reference_that_fails_its_checksum_fails_the_check_with_the_reason(
    api_client, django_capture_on_commit_callbacks
):
    version = _production(django_capture_on_commit_callbacks)
    _serve(api_client, _drifted())
    with version.reference_file.open("a") as handle:
        handle.write("tampered\n")
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    check = _check(monitor)
    assert check.status == DriftCheck.Status.FAILED
    assert "failed its checksum" in check.error
    assert check.finished_at is not None


def test_a_model_without_production_cannot_be_checked(django_capture_on_commit_callbacks):
    version = _production(django_capture_on_commit_callbacks)
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.ARCHIVED)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    with pytest.raises(InvalidInput, match="no production version"):
        services.drift_check_create(monitor=monitor)
    assert services.drift_check_scheduled(monitor_id=monitor.pk) is None


def test_a_redelivered_check_message_does_nothing(api_client, django_capture_on_commit_callbacks):
    version = _production(django_capture_on_commit_callbacks)
    _serve(api_client, _drifted().head(1000))
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    check = _check(monitor)
    assert services.drift_check_run(check_id=check.pk) is None


# -- API, command, metrics, pages ---------------------------------------------------------------


def test_api_lists_runs_and_updates(
    api_client, staff_api_client, django_capture_on_commit_callbacks
):
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)

    listed = api_client.get("/api/v1/drift-monitors/?model=synth").json()
    assert [m["model"] for m in listed["results"]] == ["synth"]
    assert listed["results"][0]["schedule_text"] == "every 60 min"

    # run now: queued (the worker is not running here), then run in-process
    with django_capture_on_commit_callbacks(execute=False):
        created = api_client.post("/api/v1/drift-checks/", {"model": "synth"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "queued"
    services.drift_check_run(check_id=created.json()["id"])
    detail = api_client.get(f"/api/v1/drift-checks/{created.json()['id']}/").json()
    assert detail["verdict"] == "insufficient_data" and detail["features"] == []
    assert api_client.get("/api/v1/drift-checks/?model=synth&verdict=drift").json()["count"] == 0

    # a CSV missing a feature is a 400 naming it
    csv = _drifted().drop(columns=["x5"]).to_csv(index=False).encode()
    upload = io.BytesIO(csv)
    upload.name = "current.csv"
    refused = api_client.post("/api/v1/drift-checks/", {"model": "synth", "file": upload})
    assert refused.status_code == 400
    assert refused.json()["field"] == "file" and "'x5'" in refused.json()["detail"]
    # an unknown model is a 404 with a JSON body
    assert (
        api_client.post("/api/v1/drift-checks/", {"model": "nope"}, format="json").status_code
        == 404
    )

    # only staff change a monitor, and a change re-syncs the schedule
    url = f"/api/v1/drift-monitors/{monitor.pk}/"
    assert api_client.patch(url, {"interval_minutes": 5}, format="json").status_code == 403
    changed = staff_api_client.patch(url, {"interval_minutes": 5}, format="json")
    assert changed.status_code == 200 and changed.json()["schedule_text"] == "every 5 min"
    assert PeriodicTask.objects.get(pk=monitor.periodic_task_id).interval.every == 5
    bad = staff_api_client.patch(url, {"schedule": "crontab", "crontab": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "crontab"


def test_check_drift_command_prints_the_table(
    api_client, django_capture_on_commit_callbacks, tmp_path
):
    _production(django_capture_on_commit_callbacks)
    path = tmp_path / "current.csv"
    _drifted(mean_shift=1.0, drift_features=1).to_csv(path, index=False)
    out = io.StringIO()
    call_command("check_drift", "synth", "--file", str(path), stdout=out)
    text = out.getvalue()
    assert "feature" in text and "statistic" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line[:1] in ("x", "s", "c")}
    assert lines["x0"].rstrip().endswith("yes")
    assert not lines["x1"].rstrip().endswith("yes")
    assert "Verdict: drift" in text


def test_metrics_expose_the_latest_check(api_client, client, django_capture_on_commit_callbacks):
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    _check(monitor, upload=io.BytesIO(_drifted(mean_shift=1.0).to_csv(index=False).encode()))
    body = client.get("/metrics").content.decode()
    assert 'modelyard_drift_share{model="synth"} 0.25' in body
    assert 'modelyard_drift_detected{model="synth"} 1.0' in body
    assert 'modelyard_feature_drift{feature="x0",model="synth"}' in body


def test_pages_show_monitors_checks_and_charts(
    page_client, staff_user, django_capture_on_commit_callbacks
):
    from django.test import Client

    staff_client = Client()
    staff_client.force_login(staff_user)
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    check = _check(
        monitor, upload=io.BytesIO(_drifted(mean_shift=1.0).to_csv(index=False).encode())
    )

    listing = page_client.get("/drift/").content.decode()
    assert "synth" in listing and "drift</span>" in listing and "every 60 min" in listing

    page = page_client.get("/drift/synth/")
    html = page.content.decode()
    assert page.status_code == 200
    charts = json.loads(
        html.split('id="charts-data" type="application/json">')[1].split("</script>")[0]
    )
    assert [c["id"] for c in charts] == ["chart-timeline", "chart-heatmap"]
    assert 'id="monitor-form"' not in html  # not staff

    detail = page_client.get(f"/drift/checks/{check.pk}/").content.decode()
    assert "features-table" in detail and "feature-overlays" in detail
    assert detail.index("<strong>x0</strong>") < detail.index(
        "<strong>x3</strong>"
    )  # drifted first

    # staff edit the monitor from the page; a bad crontab is a form error
    saved = staff_client.post("/drift/synth/", {**_form(monitor), "interval_minutes": 10})
    assert saved.status_code == 302
    assert PeriodicTask.objects.get(pk=monitor.periodic_task_id).interval.every == 10
    refused = staff_client.post(
        "/drift/synth/", {**_form(monitor), "schedule": "crontab", "crontab": "x"}
    )
    assert refused.status_code == 400 and "crontab" in refused.content.decode()
    # and a person who is not staff cannot
    assert page_client.post("/drift/synth/", _form(monitor)).status_code == 403


def test_check_now_from_the_page(page_client, django_capture_on_commit_callbacks):
    _production(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        response = page_client.post("/drift/synth/check")
    check = DriftCheck.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/drift/checks/{check.pk}/"
    assert check.status == "queued" and check.trigger == "manual"


def _form(monitor: DriftMonitor) -> dict:
    from monitoring.forms import DriftMonitorForm

    form = DriftMonitorForm(instance=DriftMonitor.objects.get(pk=monitor.pk))
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    return data


# -- Beat and a real worker ----------------------------------------------------------------------


@pytest.mark.beat
def test_beat_runs_a_scheduled_check_on_a_real_worker(celery_worker_process, celery_beat_process):
    """Both setups: the monitor's PeriodicTask, sent by a real Beat, runs on the worker."""
    from tests.conftest import wait_for

    dataset, _ = dataset_generate_synthetic(params=REFERENCE)
    version = model_version_register(model_name="synth", dataset=dataset, result=_trained())
    monitor = services.drift_monitor_ensure(model=version.registered_model)
    services.drift_monitor_save(monitor=monitor, min_sample=10)
    frame = _drifted(mean_shift=1.0).head(200)
    PredictionLog.objects.bulk_create(
        [
            PredictionLog(
                registered_model=version.registered_model,
                model_version=version,
                features=row,
                prediction="positive",
                probabilities={"positive": 0.5, "negative": 0.5},
                latency_ms=1.0,
                created_at=version.created_at,
            )
            for row in _feature_rows(frame)
        ]
    )
    # Beat's schedules are at least a minute; make this one every second for the test.
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(pk=monitor.periodic_task_id).update(interval=every)

    check = wait_for(
        lambda: DriftCheck.objects.filter(status__in=["succeeded", "failed"]).first(),
        timeout=90,
        interval=0.5,
        what="a scheduled drift check to finish",
    )
    assert check.trigger == DriftCheck.Trigger.SCHEDULE
    assert check.status == "succeeded", check.error
    assert check.verdict == DriftCheck.Verdict.DRIFT
    assert "x0" in check.drifted_features


@pytest.mark.parametrize("engine", ["evidently", "alibi"])
def test_library_engines_give_checks_of_the_same_shape(
    page_client, engine, django_capture_on_commit_callbacks
):
    # given a monitor set to a library engine and a CSV with x0 and x1 moved
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    services.drift_monitor_save(monitor=monitor, engine=engine)
    drifted = _drifted(mean_shift=1.0, drift_features=2)

    # when it checks the file
    check = _check(monitor, upload=io.BytesIO(drifted.to_csv(index=False).encode()))

    # then it names the moved features, as the built-in engine does
    assert check.status == DriftCheck.Status.SUCCEEDED, check.error
    assert check.engine == engine
    assert sorted(check.drifted_features) == ["x0", "x1"]
    assert {f["name"] for f in check.features} == {f["name"] for f in _features(version)}
    # and only Evidently leaves an HTML report, downloadable from the check page
    page = page_client.get(f"/drift/checks/{check.pk}/").content.decode()
    report = page_client.get(f"/drift/checks/{check.pk}/report")
    if engine == "evidently":
        assert 'id="evidently-report"' in page
        assert report.status_code == 200
        assert b"<html" in b"".join(report.streaming_content)[:2000].lower()
    else:
        assert 'id="evidently-report"' not in page and report.status_code == 404


def _features(version):
    return version.signature["features"]
