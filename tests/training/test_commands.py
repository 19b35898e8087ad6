"""`manage.py train` and `manage.py promote`."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import ModelVersion, StageTransition
from tests.registry.factories import make_versions
from tests.training.adult_sample import adult_sample_dataset
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def test_train_command_queues_a_job(capsys):
    dataset = adult_sample_dataset(600)

    call_command(
        "train", str(dataset.pk), "--model", "adult", "--trials", "4", "--families", "hgb,logreg"
    )

    job = TrainingJob.objects.get()
    assert (job.model_name, job.n_trials, job.config["families"]) == ("adult", 4, ["hgb", "logreg"])
    assert f"Training job {job.pk} queued" in capsys.readouterr().out


def test_train_command_reports_bad_input():
    dataset = adult_sample_dataset(600)

    with pytest.raises(CommandError, match="n_trials must be between"):
        call_command("train", str(dataset.pk), "--model", "adult", "--trials", "0")
    with pytest.raises(CommandError, match="No dataset 'nope'"):
        call_command("train", "nope")
    assert not TrainingJob.objects.exists()


def test_promote_command_moves_the_version_and_records_why(capsys):
    v1, v2 = make_versions()

    call_command("promote", "churn", "2", "--reason", "wins the A/B test")

    v2.refresh_from_db()
    assert v2.stage == ModelVersion.Stage.PRODUCTION
    transition = StageTransition.objects.get()
    assert (transition.actor_label, transition.reason) == ("system", "wins the A/B test")
    with pytest.raises(CommandError, match="already in production"):
        call_command("promote", "churn", "2")
    with pytest.raises(CommandError, match="No version 9"):
        call_command("promote", "churn", "9")
