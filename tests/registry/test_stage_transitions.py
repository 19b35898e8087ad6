"""Stage changes: one service, an audit row each time, one production version per model."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from core.errors import Conflict, InvalidInput
from registry import services
from registry.models import ModelVersion, StageTransition
from tests.registry.factories import make_versions

Stage = ModelVersion.Stage


@pytest.mark.django_db
def test_promote_archives_previous_production_version(staff_user):
    # given v1 in production
    v1, v2 = make_versions()
    services.model_version_promote(version=v1, actor=staff_user, reason="first")

    # when v2 is promoted
    services.model_version_promote(version=v2, actor=staff_user, reason="better AUC")

    # then v1 is archived, v2 serves, and both moves are on record with who and why
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.stage, v2.stage) == (Stage.ARCHIVED, Stage.PRODUCTION)
    trail = list(
        StageTransition.objects.order_by("id").values_list(
            "model_version__version", "from_stage", "to_stage", "actor_label"
        )
    )
    assert trail == [
        (1, "candidate", "production", "grace"),
        (1, "production", "archived", "grace"),
        (2, "candidate", "production", "grace"),
    ]
    archived = StageTransition.objects.get(model_version=v1, to_stage=Stage.ARCHIVED)
    assert "Replaced in production by v2" in archived.reason
    assert archived.evidence["replaced_by_version"] == 2


@pytest.mark.django_db
def test_system_transition_is_recorded_as_system():
    (v1,) = make_versions(count=1)

    services.model_version_transition(version=v1, to_stage=Stage.STAGING, reason="auto")

    assert StageTransition.objects.get().actor_label == "system"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "to", "message"),
    [
        (Stage.CANDIDATE, Stage.CANDIDATE, "already in candidate"),
        (Stage.ARCHIVED, Stage.CANDIDATE, "cannot move from archived to candidate"),
        (Stage.PRODUCTION, Stage.CANDIDATE, "cannot move from production to candidate"),
    ],
)
def test_illegal_transitions_are_conflicts(start, to, message):
    # given a version in `start`
    (v1,) = make_versions(count=1, stage=start)

    # when it is moved to `to`
    with pytest.raises(Conflict, match=message):
        services.model_version_transition(version=v1, to_stage=to)

    # then nothing changed and nothing was recorded
    v1.refresh_from_db()
    assert v1.stage == start
    assert not StageTransition.objects.exists()


@pytest.mark.django_db
def test_unknown_stage_is_invalid():
    (v1,) = make_versions(count=1)

    with pytest.raises(InvalidInput, match="Unknown stage 'live'"):
        services.model_version_transition(version=v1, to_stage="live")


@pytest.mark.django_db
def test_corrupt_version_cannot_go_to_production():
    (v1,) = make_versions(count=1, integrity_error="model.skops: checksum mismatch")

    with pytest.raises(Conflict, match="failed its artifact checksums"):
        services.model_version_promote(version=v1)
    v1.refresh_from_db()
    assert v1.stage == Stage.CANDIDATE


@pytest.mark.django_db
def test_database_refuses_a_second_production_version():
    # given v1 in production, written directly to bypass the service
    v1, v2 = make_versions()
    ModelVersion.objects.filter(pk=v1.pk).update(stage=Stage.PRODUCTION)

    # when a second production row is written the same way
    # then the partial unique constraint refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(stage=Stage.PRODUCTION)


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotions_leave_exactly_one_production_version():
    # given four candidate versions of one model
    versions = make_versions(count=4)
    barrier = threading.Barrier(len(versions))
    outcomes: list[str] = []

    def promote(version):
        try:
            barrier.wait()
            services.model_version_promote(version=version, reason="race")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    # when all four are promoted at the same moment from separate connections
    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    # then exactly one version serves, every success was recorded, and the others archived
    assert len(outcomes) == 4
    production = ModelVersion.objects.filter(stage=Stage.PRODUCTION)
    assert production.count() == 1
    assert StageTransition.objects.filter(to_stage=Stage.PRODUCTION).count() == outcomes.count("ok")
    winner = production.get()
    last_promotion = StageTransition.objects.filter(to_stage=Stage.PRODUCTION).latest("id")
    assert last_promotion.model_version_id == winner.pk
