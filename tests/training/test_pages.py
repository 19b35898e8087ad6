"""Training pages: the start form, job list and detail with live fragments, charts, cancel.

No worker runs here: jobs and trials are rows made with the ORM, and a job started through the
form is only queued (its on-commit enqueue never fires inside a test transaction).
"""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.models import Dataset, ModelVersion, RegisteredModel
from registry.services import dataset_generate_synthetic
from registry.synthetic import SyntheticParams
from training import charts as training_charts
from training import selectors
from training.models import TrainingJob, Trial

pytestmark = pytest.mark.django_db

MLP_CURVE = [0.69, 0.61, 0.55, 0.52, 0.51]


@pytest.fixture
def dataset():
    return dataset_generate_synthetic(params=SyntheticParams(rows=200, seed=1))[0]


def make_job(dataset, *, status=TrainingJob.Status.RUNNING, n_trials=10, **fields):
    now = timezone.now()
    started = now - timedelta(seconds=60) if status != TrainingJob.Status.QUEUED else None
    defaults = {
        "dataset": dataset,
        "model_name": "synth",
        "status": status,
        "n_trials": n_trials,
        "config": {
            "target": "label",
            "families": ["mlp", "hgb", "logreg"],
            "imbalance": ["none", "class_weight", "smote"],
            "metric": "roc_auc",
            "n_trials": n_trials,
            "timeout_s": None,
            "seed": 0,
            "val_fraction": 0.15,
            "test_fraction": 0.15,
            "max_epochs": 60,
            "parallelism_requested": 1,
        },
        "started_at": started,
        "heartbeat_at": started,
        "finished_at": now if status in TrainingJob.FINISHED else None,
    }
    defaults.update(fields)
    return TrainingJob.objects.create(**defaults)


def add_trials(job, count=8):
    """A plausible mix: each family in turn, one pruned MLP and one failed trial."""
    for n in range(count):
        family = ("mlp", "hgb", "logreg")[n % 3]
        imbalance = ("none", "class_weight", "smote")[n % 3 if n % 2 else 0]
        if family == "mlp":
            step = n // 3
            params = {
                "hidden_units": 32 * (1 + step),
                "layers": 1 + step % 2,
                "lr": 10 ** -(2 + step),
            }
            curve = MLP_CURVE[: 3 + step]
        elif family == "hgb":
            params = {"learning_rate": 0.05 * (1 + n % 4), "max_leaf_nodes": 15 + n}
            curve = [0.4]
        else:
            params = {"C": 10 ** (n % 4 - 2), "penalty": "l2"}
            curve = [0.45]
        state = Trial.State.COMPLETE
        value = 0.7 + 0.02 * n
        if n == 3:
            state, value = Trial.State.PRUNED, None
        if n == 5:
            state, value = Trial.State.FAILED, None
        Trial.objects.create(
            job=job,
            number=n,
            family=family,
            imbalance=imbalance,
            params=params,
            state=state,
            value=value,
            duration_s=1.5 + n,
            curve=curve,
            error="ValueError: boom" if state == Trial.State.FAILED else "",
        )
    stats = {s: job.trials.filter(state=s).count() for s in Trial.State.values}
    best = max(t.value for t in job.trials.exclude(value=None))
    TrainingJob.objects.filter(pk=job.pk).update(
        trials_done=stats["complete"],
        trials_pruned=stats["pruned"],
        trials_failed=stats["failed"],
        best_value=best,
    )
    job.refresh_from_db()
    return job


def charts_in(html: str) -> dict:
    data = html.split('<script id="charts-data" type="application/json">')[1].split("</script>")[0]
    return {c["id"]: c["figure"] for c in json.loads(data)}


def form_data(dataset, **overrides):
    data = {
        "dataset": dataset.pk,
        "model_name": "synth",
        "target": "",
        "families": ["mlp", "hgb", "logreg"],
        "imbalance": ["none", "class_weight", "smote"],
        "metric": "auto",
        "n_trials": 5,
        "timeout_s": "",
        "seed": 0,
        "parallelism": 1,
    }
    data.update(overrides)
    return data


# --- Start form ---------------------------------------------------------------------------


def test_form_defaults_to_the_newest_dataset_with_a_target_and_all_choices(page_client, dataset):
    # given an older dataset and a newer one without a target
    newer = dataset_generate_synthetic(params=SyntheticParams(rows=200, seed=2))[0]
    Dataset.objects.filter(pk=dataset.pk).update(created_at=timezone.now() - timedelta(days=1))
    untargeted = dataset_generate_synthetic(params=SyntheticParams(rows=200, seed=3))[0]
    Dataset.objects.filter(pk=untargeted.pk).update(target="")

    # when the form is opened
    response = page_client.get(reverse("training:job_new"))

    # then the newest dataset with a target is chosen, named after it, with every option on
    form = response.context["form"]
    assert response.status_code == 200
    assert form["dataset"].value() == newer.pk
    assert list(form.fields["dataset"].queryset) == [newer, dataset]
    assert form["model_name"].value() == "synthetic-200-rows-seed-2"
    assert form["families"].value() == ["mlp", "hgb", "logreg"]
    assert form["imbalance"].value() == ["none", "class_weight", "smote"]
    assert form["n_trials"].value() == 20
    html = response.content.decode()
    assert html.count('type="checkbox" name="families"') == 3
    assert html.count("checked") == 6
    defaults = html.split('<script id="model-name-defaults" type="application/json">')[1]
    assert json.loads(defaults.split("</script>")[0]) == {
        str(newer.pk): "synthetic-200-rows-seed-2",
        str(dataset.pk): "synthetic-200-rows-seed-1",
    }
    assert 'data-fills="#id_model_name"' in html


def test_form_post_queues_a_job_and_redirects_to_it(page_client, dataset, user):
    # when the form is posted
    response = page_client.post(
        reverse("training:job_new"),
        form_data(dataset, families=["hgb", "logreg"], imbalance=["none"], timeout_s="120"),
    )

    # then the job is stored queued with that configuration and the browser goes to it
    job = TrainingJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("training:job_detail", args=[job.pk])
    assert job.status == TrainingJob.Status.QUEUED
    assert job.n_trials == 5
    assert job.created_by == user
    assert job.config["families"] == ["hgb", "logreg"]
    assert job.config["imbalance"] == ["none"]
    assert job.config["timeout_s"] == 120


def test_empty_model_name_defaults_to_the_dataset_slug(page_client, dataset):
    page_client.post(reverse("training:job_new"), form_data(dataset, model_name=""))

    assert TrainingJob.objects.get().model_name == "synthetic-200-rows-seed-1"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"n_trials": 0}, "n_trials", "between 1 and"),
        ({"families": []}, "families", "at least one"),
        ({"imbalance": []}, "imbalance", "at least one"),
        ({"families": ["xgboost"]}, "families", "valid choice"),
        ({"target": "nope"}, "target", "not in dataset"),
        ({"model_name": "Bad Name!"}, "model_name", "lowercase"),
        ({"timeout_s": "0"}, "timeout_s", "positive"),
        ({"parallelism": 0}, "parallelism", "between 1 and"),
    ],
)
def test_form_errors_name_the_field_and_store_nothing(
    page_client, dataset, overrides, field, words
):
    # when the form is posted with one bad value
    response = page_client.post(reverse("training:job_new"), form_data(dataset, **overrides))

    # then it comes back with the error on that field, and no job exists
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert words in " ".join(errors[field])
    assert 'class="form-error"' in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_form_without_datasets_says_what_to_do(page_client):
    response = page_client.get(reverse("training:job_new"))

    assert response.status_code == 200
    assert "No dataset has a target column yet" in response.content.decode()


# --- List, detail and fragments ---------------------------------------------------------------


def test_job_list_shows_jobs_with_a_polled_progress_bar(page_client, dataset):
    # given a running job 4 trials in, and a finished one
    running = make_job(dataset, trials_done=3, trials_pruned=1)
    make_job(dataset, status=TrainingJob.Status.SUCCEEDED, model_name="other")

    # when the list is opened
    response = page_client.get(reverse("training:job_list"))

    # then both are listed, the running one with a progress bar, and the rows are polled
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="job-{running.pk}"' in html
    assert '<progress value="4" max="10"' in html
    assert html.count("<progress") == 1
    assert f'data-poll="{reverse("training:job_rows_fragment")}" data-interval="2000"' in html
    assert reverse("training:job_new") in html


def test_job_list_does_not_poll_when_nothing_is_running(page_client, dataset):
    make_job(dataset, status=TrainingJob.Status.FAILED)

    html = page_client.get(reverse("training:job_list")).content.decode()

    assert "data-poll=" not in html


def test_job_rows_fragment_renders_rows_and_stops_polling_when_all_finished(page_client, dataset):
    # given a running job
    job = make_job(dataset, trials_done=5)

    # when the fragment is fetched while it runs, and after it finished
    while_running = page_client.get(reverse("training:job_rows_fragment"))
    TrainingJob.objects.filter(pk=job.pk).update(status=TrainingJob.Status.SUCCEEDED)
    finished = page_client.get(reverse("training:job_rows_fragment")).content.decode()

    # then it is bare table rows, and the last one carries the stop marker
    html = while_running.content.decode()
    assert while_running.status_code == 200
    assert "<html" not in html
    assert f'id="job-{job.pk}"' in html
    assert "data-poll-stop" not in html
    assert "data-poll-stop" in finished
    assert "no-cache" in while_running["Cache-Control"]


def test_job_detail_renders_trials_config_and_the_four_charts(page_client, dataset):
    # given a running job with 8 trials (6 complete, 1 pruned, 1 failed)
    job = add_trials(make_job(dataset))

    # when its page is opened
    response = page_client.get(reverse("training:job_detail", args=[job.pk]))

    # then the status polls, the trials are listed and each chart has its figure
    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("training:job_status_fragment", args=[job.pk]) in html
    assert html.count('<tr class="best-row">') == 1
    assert "ValueError: boom" in html
    assert "vendor/plotly/plotly.min.js" in html
    charts = charts_in(html)
    assert set(charts) == {"chart-history", "chart-importance", "chart-parcoords", "chart-curves"}

    history = {trace["name"]: trace for trace in charts["chart-history"]["data"]}
    assert set(history) == {"mlp", "hgb", "logreg", "best so far", "pruned", "failed"}
    assert history["pruned"]["x"] == [3] and history["failed"]["x"] == [5]
    assert history["best so far"]["y"] == sorted(history["best so far"]["y"])

    importance = charts["chart-importance"]["data"][0]
    assert importance["orientation"] == "h"
    assert sum(importance["x"]) == pytest.approx(1.0, abs=0.01)
    assert "family" in importance["y"]

    dimensions = {d["label"]: d for d in charts["chart-parcoords"]["data"][0]["dimensions"]}
    assert dimensions["family"]["ticktext"] == ["hgb", "logreg", "mlp"]
    assert "n/a" in dimensions["hidden_units"]["ticktext"]  # other families lack it
    assert "lr (log)" in dimensions
    assert len(dimensions["objective"]["values"]) == 6

    curves = charts["chart-curves"]["data"]
    assert [len(c["y"]) for c in curves] == [3, 4, 5]
    assert curves[1]["line"]["dash"] == "dot"  # trial 3 was pruned


def test_job_detail_omits_importances_with_a_note_below_four_complete_trials(page_client, dataset):
    # given a job with three trials, all complete
    job = add_trials(make_job(dataset), count=3)

    html = page_client.get(reverse("training:job_detail", args=[job.pk])).content.decode()

    charts = charts_in(html)
    assert "chart-importance" not in charts
    assert "need at least 4 complete trials (3 so far)" in html
    assert "chart-history" in charts


def test_job_detail_without_trials_has_no_charts(page_client, dataset):
    job = make_job(dataset, status=TrainingJob.Status.QUEUED)

    response = page_client.get(reverse("training:job_detail", args=[job.pk]))

    assert response.status_code == 200
    assert charts_in(response.content.decode()) == {}
    assert "No trials finished yet." in response.content.decode()


def test_status_fragment_marks_the_page_for_reload_once_the_job_finished(page_client, dataset):
    # given a running job
    job = make_job(dataset, trials_done=4, best_value=0.8123)
    url = reverse("training:job_status_fragment", args=[job.pk])

    # when its status fragment is fetched while running, then after it succeeded
    running = page_client.get(url).content.decode()
    model = RegisteredModel.objects.create(name="synth")
    version = ModelVersion.objects.create(registered_model=model, version=1, dataset=dataset)
    TrainingJob.objects.filter(pk=job.pk).update(
        status=TrainingJob.Status.SUCCEEDED, finished_at=timezone.now(), result_version=version
    )
    done = page_client.get(url).content.decode()

    # then only the finished one carries the reload marker, and it links the new version
    assert "<html" not in running
    assert "0.8123" in running
    assert "ETA" in running
    assert "data-reload-when-finished" not in running
    assert "data-reload-when-finished" in done
    assert reverse("registry:version_detail", args=["synth", 1]) in done


def test_finished_job_page_does_not_poll_and_shows_the_failure(page_client, dataset):
    job = make_job(dataset, status=TrainingJob.Status.FAILED, error="Out of memory in trial 3")

    html = page_client.get(reverse("training:job_detail", args=[job.pk])).content.decode()

    assert "data-poll=" not in html
    assert 'class="error-box"' in html
    assert "Out of memory in trial 3" in html
    assert 'id="cancel-button"' not in html


def test_cancel_a_queued_job(page_client, dataset):
    # given a queued job, whose page offers a cancel button
    job = make_job(dataset, status=TrainingJob.Status.QUEUED)
    page = page_client.get(reverse("training:job_detail", args=[job.pk])).content.decode()
    assert 'id="cancel-button"' in page

    # when the cancel button is posted
    response = page_client.post(reverse("training:job_cancel", args=[job.pk]), follow=True)

    # then the job is cancelled and the page says so
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.CANCELLED
    assert response.redirect_chain[-1][0] == reverse("training:job_detail", args=[job.pk])
    assert "cancelled before it started" in response.content.decode()


def test_cancel_a_running_job_requests_it(page_client, dataset):
    job = make_job(dataset)

    page_client.post(reverse("training:job_cancel", args=[job.pk]))

    job.refresh_from_db()
    assert job.status == TrainingJob.Status.RUNNING
    assert job.cancel_requested


def test_cancel_a_finished_job_shows_an_error(page_client, dataset):
    job = make_job(dataset, status=TrainingJob.Status.SUCCEEDED)

    response = page_client.post(reverse("training:job_cancel", args=[job.pk]), follow=True)

    job.refresh_from_db()
    assert job.status == TrainingJob.Status.SUCCEEDED
    assert "flash-error" in response.content.decode()
    assert "already finished" in response.content.decode()


def test_cancel_needs_a_post(page_client, dataset):
    job = make_job(dataset, status=TrainingJob.Status.QUEUED)

    response = page_client.get(reverse("training:job_cancel", args=[job.pk]))

    assert response.status_code == 405


def test_progress_eta_comes_from_the_mean_time_per_trial(dataset):
    # given a job that finished 4 of 10 trials in 60 s
    job = make_job(dataset, trials_done=3, trials_failed=1)

    progress = selectors.training_job_get_progress(job, now=job.started_at + timedelta(seconds=60))

    # then 6 trials remain at 15 s each
    assert progress["finished"] == 4
    assert progress["share"] == pytest.approx(0.4)
    assert progress["elapsed_s"] == pytest.approx(60)
    assert progress["eta_s"] == pytest.approx(90)


def test_progress_eta_never_passes_the_timeout(dataset):
    job = make_job(dataset, trials_done=1)
    job.config["timeout_s"] = 100

    progress = selectors.training_job_get_progress(job, now=job.started_at + timedelta(seconds=60))

    assert progress["eta_s"] == pytest.approx(40)


def test_best_so_far_follows_a_minimised_metric(dataset):
    # given a log-loss job whose values go down and up
    job = make_job(dataset)
    job.config["metric"] = "log_loss"
    for n, value in enumerate([0.6, 0.5, 0.7, 0.4]):
        Trial.objects.create(job=job, number=n, family="hgb", state="complete", value=value)

    charts = {c["id"]: c for c in training_charts.training_job_charts(job)}

    best = next(t for t in charts["chart-history"]["figure"]["data"] if t["name"] == "best so far")
    assert best["y"] == [0.6, 0.5, 0.5, 0.4]


@pytest.mark.parametrize(
    "name", ["training:job_list", "training:job_new", "training:job_rows_fragment"]
)
def test_training_pages_redirect_anonymous_users_to_login(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_job_pages_redirect_anonymous_users_to_login(client, dataset):
    job = make_job(dataset, status=TrainingJob.Status.QUEUED)

    for name in ("training:job_detail", "training:job_status_fragment"):
        response = client.get(reverse(name, args=[job.pk]))
        assert response.status_code == 302
    response = client.post(reverse("training:job_cancel", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.QUEUED
