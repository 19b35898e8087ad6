"""`manage.py demo_drift` walks the whole loop and ends with a challenger in staging."""

import io

import pytest
from django.core.management import call_command

from monitoring.models import DriftCheck, Retraining
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_demo_drift_ends_with_a_challenger_in_staging(django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False):  # no worker: it runs in-process
        call_command("demo_drift", "--rows", "1500", "--trials", "1", stdout=out)
    text = out.getvalue()

    check = DriftCheck.objects.get()
    assert check.verdict == DriftCheck.Verdict.DRIFT
    assert {"x0", "x1", "channel"} <= set(check.drifted_features)
    retraining = Retraining.objects.get()
    assert retraining.status == Retraining.Status.STAGED
    assert retraining.challenger.stage == ModelVersion.Stage.STAGING
    assert ModelVersion.objects.get(version=1).stage == ModelVersion.Stage.PRODUCTION
    assert "Challenger v2 is in staging" in text and f"/drift/checks/{check.pk}/" in text
