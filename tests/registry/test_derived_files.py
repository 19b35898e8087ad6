"""Derived outputs (cards, reports, exports) live apart from the artifacts they describe."""

import pytest
from django.conf import settings

from core.errors import Conflict, InvalidInput
from registry.services import model_version_derived_write, model_version_load
from tests.inference.models import register

pytestmark = pytest.mark.django_db


def test_derived_file_is_written_outside_the_artifact_directory_and_the_version_still_loads():
    # given
    version = register("logreg")
    # when
    path = model_version_derived_write(version=version, name="README.md", data=b"# card\n")
    # then
    assert path.read_bytes() == b"# card\n"
    assert path.parent == settings.DERIVED_DIR / version.artifact_path
    assert version.artifact_dir not in path.parents
    assert not (version.artifact_dir / "README.md").exists()
    fitted = model_version_load(version=version)
    assert fitted.family == "logreg"
    version.refresh_from_db()
    assert version.integrity_error == ""


def test_writing_a_derived_file_again_replaces_it_atomically():
    # given
    version = register("logreg")
    model_version_derived_write(version=version, name="card.json", data=b'{"v": 1}')
    # when
    path = model_version_derived_write(version=version, name="card.json", data=b'{"v": 2}')
    # then
    assert path.read_bytes() == b'{"v": 2}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["card.json"]


@pytest.mark.parametrize("name", ["", "../manifest.json", "a/b.md", ".hidden", ".."])
def test_a_derived_name_that_is_not_a_plain_file_name_is_refused(name):
    # given
    version = register("logreg")
    # when / then
    with pytest.raises(InvalidInput):
        model_version_derived_write(version=version, name=name, data=b"x")
    assert not (version.artifact_dir.parent / "manifest.json").exists()


def test_a_file_written_into_the_artifact_directory_still_marks_the_version_corrupt():
    # given: what the derived directory exists to prevent
    version = register("logreg")
    (version.artifact_dir / "README.md").write_text("# card\n")
    # when / then
    with pytest.raises(Conflict, match="README.md"):
        model_version_load(version=version)
    version.refresh_from_db()
    assert "unexpected" in version.integrity_error
