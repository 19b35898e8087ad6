"""`manage.py demo_abtest` runs a split test to a decision and a promotion, in-process."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from abtests.models import ABTest, Decision
from registry.models import ModelVersion, StageTransition

pytestmark = pytest.mark.django_db


def test_demo_abtest_decides_and_promotes_the_better_challenger(
    django_capture_on_commit_callbacks,
):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False):  # no worker: it runs in-process
        call_command("demo_abtest", "--trials", "1", "--batch", "400", stdout=out)
    text = out.getvalue()

    test = ABTest.objects.get()
    assert test.status == ABTest.Status.DECIDED, text
    assert test.outcome == ABTest.Outcome.CHALLENGER_BETTER
    challenger = ModelVersion.objects.get(pk=test.challenger_id)
    assert challenger.stage == ModelVersion.Stage.PRODUCTION
    decision = Decision.objects.get(test=test, kind=Decision.Kind.DECIDED)
    promotion = StageTransition.objects.get(model_version=challenger, to_stage="production")
    assert promotion.evidence["decision"] == decision.pk
    assert test.summary in text and f"/ab-tests/{test.pk}/" in text
    assert test.snapshots.count() >= 2  # it looked more than once before deciding


def test_demo_abtest_refuses_bad_options():
    with pytest.raises(CommandError, match="--batch"):
        call_command("demo_abtest", "--batch", "0")
