"""Import: an export (a folder, or a repository on the Hub stand-in) registers as a version
that predicts exactly what the exported one did; a changed file or a pickle refuses it all."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from core.errors import InvalidInput
from registry.models import Dataset, ModelVersion
from registry.services import (
    hub_export_create,
    hub_export_run,
    model_version_import,
    model_version_import_repo,
)
from registry.services.hub import hub_export_folder
from registry.services.versions import model_version_load
from tests.inference.models import feature_rows, register
from tests.registry.test_hub_export import TOKEN, hub  # noqa: F401 - the stand-in fixture

pytestmark = pytest.mark.django_db


def _exported(version) -> Path:
    folder = Path(tempfile.mkdtemp())
    hub_export_folder(version, folder)
    return folder


def _same_predictions(a: ModelVersion, b: ModelVersion) -> None:
    rows = pd.DataFrame(feature_rows(50))
    pa = model_version_load(version=a).predict_proba(rows)
    pb = model_version_load(version=b).predict_proba(rows)
    assert np.array_equal(pa, pb)


@pytest.mark.parametrize("family", ["hgb", "logreg", "mlp"])
def test_export_then_import_predicts_the_same(family):
    original = register(family)
    imported = model_version_import(source=_exported(original), model_name="adult-copy")

    assert (imported.registered_model.name, imported.version) == ("adult-copy", 1)
    assert imported.family == original.family and imported.params == original.params
    assert imported.signature == original.signature
    assert imported.dataset.origin == Dataset.Origin.IMPORTED
    assert imported.reference_file.exists()
    _same_predictions(original, imported)


def test_a_changed_file_or_a_pickle_refuses_the_whole_folder():
    original = register("hgb")
    before = (ModelVersion.objects.count(), Dataset.objects.count())

    folder = _exported(original)
    data = bytearray((folder / "model.skops").read_bytes())
    data[100] ^= 0xFF
    (folder / "model.skops").write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="model.skops: sha256"):
        model_version_import(source=folder)

    folder = _exported(original)
    (folder / "extra.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(InvalidInput, match="extra.pkl would need unpickling"):
        model_version_import(source=folder)

    with pytest.raises(InvalidInput, match="no manifest.json"):
        model_version_import(source=Path(tempfile.mkdtemp()))
    assert (ModelVersion.objects.count(), Dataset.objects.count()) == before


def test_import_from_a_hub_repository_and_the_command(hub, tmp_path):  # noqa: F811
    original = register("hgb")
    job = hub_export_run(
        job_id=hub_export_create(version=original, repo_id="alice/adult-income").pk
    )
    assert job.status == "succeeded", job.error

    imported = model_version_import_repo(repo_id="alice/adult-income", model_name="from-hub")
    _same_predictions(original, imported)

    out = io.StringIO()
    call_command("import_model", str(_exported(original)), "--model", "from-folder", stdout=out)
    assert "Imported as from-folder v1" in out.getvalue()
    with pytest.raises(CommandError, match="neither an export folder"):
        call_command("import_model", str(tmp_path / "nope"))


def test_the_import_page(staff_client, user):
    from django.test import Client

    original = register("hgb")
    folder = _exported(original)
    someone = Client()
    someone.force_login(user)
    assert someone.get("/models/import/").status_code == 403
    assert 'id="import-form"' in staff_client.get("/models/import/").content.decode()
    bad = staff_client.post("/models/import/", {"source": "not a thing", "model": ""})
    assert bad.status_code == 400 and "neither an export folder" in bad.content.decode()
    done = staff_client.post("/models/import/", {"source": str(folder), "model": "paged"})
    assert done.status_code == 302 and done["Location"] == "/models/paged/versions/1/"
