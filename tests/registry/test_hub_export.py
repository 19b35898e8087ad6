"""Hugging Face Hub export against a local stand-in speaking the Hub's HTTP API: the files and
checksums that arrive, the private flag, the commit on the version, failures with clear
reasons, a token that never shows, and a load.py that needs no Modelyard."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from registry.models import HubExport, ModelVersion
from registry.services import hub_export_create, hub_export_run, hub_token_set
from registry.services.versions import model_version_load
from tests.hub_standin import HubStandIn
from tests.inference.models import feature_rows, register

pytestmark = pytest.mark.django_db

TOKEN = "hf_aliceSecretToken1234567890"


@pytest.fixture
def hub(settings, monkeypatch):
    import huggingface_hub.constants
    import huggingface_hub.file_download

    with HubStandIn({TOKEN: "alice", "hf_bobTokenAbcdefghij12345": "bob"}) as standin:
        # HF_ENDPOINT in the environment, as huggingface_hub reads it when imported
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", standin.endpoint)
        monkeypatch.setattr(
            huggingface_hub.file_download,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            standin.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        )
        settings.HF_ENDPOINT = standin.endpoint
        settings.HF_TOKEN = TOKEN
        yield standin


def _export(version, repo_id="alice/adult-income", **kwargs) -> HubExport:
    job = hub_export_create(version=version, repo_id=repo_id, **kwargs)
    return hub_export_run(job_id=job.pk)


@pytest.mark.parametrize("family", ["hgb", "mlp"])
def test_an_export_uploads_the_versions_folder(hub, family, caplog):
    version = register(family)
    caplog.set_level(logging.DEBUG)

    job = _export(version)

    # then the job succeeded, with the commit and URL on it and on the version
    assert job.status == HubExport.Status.SUCCEEDED, job.error
    repo = hub.repos["alice/adult-income"]
    assert repo.private is True and repo.owner == "alice"
    assert job.commit_sha == repo.commits[-1]
    version.refresh_from_db()
    assert version.hub_url == f"{hub.endpoint}/alice/adult-income"
    assert (version.hub_commit, version.hub_repo_id) == (job.commit_sha, "alice/adult-income")
    # and every artifact arrived byte for byte, with the card, an example and load.py
    for name, info in version.artifact_files.items():
        assert hashlib.sha256(repo.files[name]).hexdigest() == info["sha256"], name
    assert set(repo.files) == {
        *version.artifact_files,
        "README.md",
        "card.json",
        "input_example.json",
        "load.py",
        "reference.csv",
        "modelyard.json",
    }
    index = json.loads(repo.files["modelyard.json"])["files"]
    for name, data in repo.files.items():
        if name != "modelyard.json":
            assert hashlib.sha256(data).hexdigest() == index[name], name
    assert repo.files["README.md"].decode().startswith("---\n")
    assert json.loads(repo.files["input_example.json"]) == version.input_example
    # and the token was sent as a bearer token and never logged
    assert any(h.get("authorization") == f"Bearer {TOKEN}" for _, _, h in hub.requests)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("family", ["hgb", "logreg", "mlp"])
def test_load_py_gives_the_platforms_probabilities_without_modelyard(hub, tmp_path, family):
    version = register(family)
    _export(version)
    folder = tmp_path / "download"
    folder.mkdir()
    for name, data in hub.repos["alice/adult-income"].files.items():
        (folder / name).write_bytes(data)
    rows = feature_rows(20)
    (folder / "rows.json").write_text(json.dumps(rows))

    # a fresh interpreter that cannot import the platform's packages
    script = (
        "import json, sys; sys.path = [p for p in sys.path if 'work/main' not in p or "
        "p.endswith('site-packages')]; sys.path.insert(0, '.'); "
        "from load import load; m = load('.'); "
        "rows = json.load(open('rows.json')); "
        "print(json.dumps({'p': m.predict_proba(rows).tolist(), 'y': m.predict(rows)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, check=True
    )
    answer = json.loads(out.stdout)
    model = model_version_load(version=version)
    expected = model.predict_proba(pd.DataFrame(rows))
    # the same probabilities (float32 inputs on both sides: equal to float32 precision)
    assert np.asarray(answer["p"]) == pytest.approx(expected, abs=1e-6)
    assert answer["y"] == model.predict(pd.DataFrame(rows))


def test_a_second_export_reuses_the_repository(hub):
    version = register("hgb")
    first = _export(version)
    second = _export(version)
    assert second.status == HubExport.Status.SUCCEEDED, second.error
    assert len(hub.repos["alice/adult-income"].commits) == 2
    assert first.commit_sha != second.commit_sha


def test_failures_end_the_job_with_a_reason_and_no_token(hub, settings, caplog):
    version = register("hgb")
    caplog.set_level(logging.DEBUG)

    # a repository in someone else's namespace
    job = _export(version, repo_id="bob/their-model")
    assert job.status == HubExport.Status.FAILED
    assert "belongs to someone else" in job.error and "403" in job.error

    # a token the Hub does not know
    settings.HF_TOKEN = "hf_wrongWrongWrongWrong000"
    job = _export(version)
    assert job.status == HubExport.Status.FAILED
    assert "refused the token (401)" in job.error

    # the Hub unreachable
    settings.HF_TOKEN = TOKEN
    settings.HF_ENDPOINT = "http://127.0.0.1:9"
    job = _export(version)
    assert job.status == HubExport.Status.FAILED
    assert "could not be reached" in job.error

    for secret in (TOKEN, "hf_wrongWrongWrongWrong000"):
        assert secret not in caplog.text
        assert not HubExport.objects.filter(error__contains=secret).exists()
    assert ModelVersion.objects.get(pk=version.pk).hub_url == ""


def test_a_users_own_token_is_stored_encrypted_and_used(hub, settings, user):
    settings.HF_TOKEN = ""
    version = register("hgb")
    with pytest.raises(Exception, match="No Hub token"):
        hub_export_create(version=version, repo_id="bob/model", actor=user)
    hub_token_set(user=user, token="hf_bobTokenAbcdefghij12345")
    assert "hf_bob" not in user.hub_token.encrypted
    job = hub_export_create(version=version, repo_id="bob/model", actor=user)
    job = hub_export_run(job_id=job.pk)
    assert job.status == HubExport.Status.SUCCEEDED, job.error
    assert hub.repos["bob/model"].owner == "bob"


@pytest.mark.parametrize("repo_id", ["", "noslash", "a/b/c", "bad name/x", "-x/y"])
def test_a_malformed_repository_id_is_refused(hub, repo_id):
    version = register("hgb")
    with pytest.raises(Exception, match="owner/name") as caught:
        hub_export_create(version=version, repo_id=repo_id)
    assert caught.value.field == "repo_id"
    assert not HubExport.objects.exists()


def test_the_api_and_the_page(hub, staff_api_client, api_client, staff_client):
    version = register("hgb")

    # the API queues an export for staff only, and never answers with the token
    url = f"/api/v1/versions/{version.pk}/hub-exports"
    assert api_client.post(url, {"repo_id": "alice/m"}, format="json").status_code == 403
    bad = staff_api_client.post(url, {"repo_id": "no slash"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "repo_id"
    created = staff_api_client.post(url, {"repo_id": "alice/m", "private": False}, format="json")
    assert created.status_code == 202, created.content
    job = hub_export_run(job_id=created.json()["id"])
    assert job.status == HubExport.Status.SUCCEEDED and hub.repos["alice/m"].private is False
    listed = staff_api_client.get("/api/v1/hub-exports/")
    assert listed.json()["results"][0]["commit_sha"] == job.commit_sha
    assert TOKEN not in listed.content.decode() and TOKEN not in created.content.decode()

    # the page shows the export, stores a user's token without ever showing it
    page = staff_client.get(f"/models/adult/versions/{version.version}/").content.decode()
    assert 'id="hub-export-form"' in page and hub.endpoint + "/alice/m" in page
    stored = staff_client.post(
        "/hub-token/", {"token": "hf_pageStoredToken123456", "next": "/models/adult/"}
    )
    assert stored.status_code == 302
    page = staff_client.get(f"/models/adult/versions/{version.version}/").content.decode()
    assert "your stored token" in page and "hf_pageStoredToken123456" not in page
    posted = staff_client.post(
        f"/models/adult/versions/{version.version}/hub-export",
        {"repo_id": "alice/from-page", "private": "on"},
    )
    assert posted.status_code == 302
    assert HubExport.objects.filter(repo_id="alice/from-page", status="queued").exists()
    rows = staff_client.get(f"/models/adult/versions/{version.version}/hub-exports/rows")
    assert "alice/from-page" in rows.content.decode()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_export(celery_worker_process, session_hub, settings):
    # given a version, and the worker pointed at the session's stand-in Hub (HF_ENDPOINT,
    # HF_TOKEN in its environment)
    from tests.conftest import WORKER_HUB_TOKEN, wait_for

    settings.HF_TOKEN = WORKER_HUB_TOKEN  # what the request checks before queueing
    version = register("logreg")

    # when an export is queued (on commit, to the batch queue)
    job = hub_export_create(version=version, repo_id="worker-user/exported")

    # then the worker ran it and the files arrived
    def finished():
        job.refresh_from_db()
        return job.is_finished

    wait_for(finished, timeout=120, interval=0.5, what=f"Hub export {job.pk} to finish")
    assert job.status == HubExport.Status.SUCCEEDED, job.error
    repo = session_hub.repos["worker-user/exported"]
    assert repo.private is True and job.commit_sha == repo.commits[-1]
    for name, info in version.artifact_files.items():
        assert hashlib.sha256(repo.files[name]).hexdigest() == info["sha256"], name
