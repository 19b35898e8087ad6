"""Dataset ingest through the service: kinds, profiles, dedupe, and every bad input refused."""

import io

import pytest
from django.conf import settings

from core.errors import Conflict, InvalidInput
from registry import services
from registry.models import Dataset, ModelVersion, RegisteredModel
from tests.registry.csv_samples import good_csv

pytestmark = pytest.mark.django_db


def stored_files() -> list:
    return [p for d in (settings.DATASETS_DIR, settings.UPLOAD_TMP_DIR) for p in d.iterdir()]


def ingest(content: bytes, **kwargs):
    return services.dataset_ingest(source=io.BytesIO(content), filename="data.csv", **kwargs)


def test_ingest_infers_kinds_flags_and_profiles():
    # given a CSV with an id, numeric with gaps, categorical, boolean, constant and a target
    content = good_csv(rows=120)

    # when it is ingested with its target named
    dataset, created = ingest(content, target="churn")

    # then the row, the file and each column's profile are stored
    assert created
    assert dataset.row_count == 120
    assert dataset.column_count == 7
    assert dataset.delimiter == ","
    assert dataset.absolute_path.read_bytes() == content
    kinds = {c["name"]: c["kind"] for c in dataset.columns}
    assert kinds == {
        "customer_id": "categorical",
        "age": "numeric",
        "plan": "categorical",
        "active": "boolean",
        "score": "numeric",
        "region": "categorical",
        "churn": "categorical",
    }
    assert "id_like" in dataset.column("customer_id")["flags"]
    assert "constant" in dataset.column("region")["flags"]
    age = dataset.column("age")
    assert age["missing_count"] == 12
    assert age["missing_share"] == pytest.approx(0.1)
    assert 18 <= age["min"] <= age["mean"] <= age["max"] < 80
    assert sum(age["histogram"]["counts"]) == 108
    assert dataset.column("plan")["top"] == [["basic", 40], ["plus", 40], ["pro", 40]]
    assert dataset.target_kind == Dataset.TargetKind.BINARY
    assert dataset.target_classes == [["stayed", 90], ["churned", 30]]
    assert stored_files() == [dataset.absolute_path]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_ingest_sniffs_the_delimiter(delimiter):
    # given the same data with another delimiter
    content = good_csv(rows=60, delimiter=delimiter)

    # when it is ingested
    dataset, _ = ingest(content)

    # then the columns are split correctly
    assert dataset.delimiter == delimiter
    assert dataset.column_count == 7
    assert dataset.column("plan")["kind"] == "categorical"


def test_identical_file_returns_the_existing_dataset():
    # given a stored dataset
    first, created = ingest(good_csv(), name="first")
    assert created

    # when the same bytes arrive again under another name
    second, created_again = ingest(good_csv(), name="second")

    # then the first dataset comes back and nothing new is stored
    assert not created_again
    assert second.pk == first.pk
    assert Dataset.objects.count() == 1
    assert stored_files() == [first.absolute_path]


def test_multiclass_target_and_missing_cells():
    # given a three-class target and cells marked missing with "?", "NA" and blanks
    rows = ["f1,f2,label"] + [
        f"{i},{['?', 'NA', '', 'x', 'y'][i % 5]},{['a', 'b', 'c'][i % 3]}" for i in range(90)
    ]
    content = ("\n".join(rows) + "\n").encode()

    # when it is ingested
    dataset, _ = ingest(content, target="label")

    # then the target is multiclass and the markers count as missing
    assert dataset.target_kind == Dataset.TargetKind.MULTICLASS
    assert [c for c, _ in dataset.target_classes] == ["a", "b", "c"]
    assert dataset.column("f2")["missing_count"] == 54
    assert dataset.column("f2")["distinct"] == 2


def test_set_target_after_upload():
    # given a dataset stored without a target
    dataset, _ = ingest(good_csv())
    assert dataset.target == ""

    # when the target is named later
    dataset = services.dataset_set_target(dataset=dataset, target="plan")

    # then its classes come from the stored file
    assert dataset.target == "plan"
    assert dataset.target_kind == Dataset.TargetKind.MULTICLASS
    assert sorted(dataset.target_classes) == [["basic", 40], ["plus", 40], ["pro", 40]]


@pytest.mark.parametrize(
    ("target", "message"),
    [("nope", "not in dataset"), ("region", "single class"), ("score", "distinct values")],
)
def test_set_target_refuses_bad_targets(target, message):
    # given a stored dataset without a target
    dataset, _ = ingest(good_csv())

    # when a bad target is named
    with pytest.raises(InvalidInput, match=message):
        services.dataset_set_target(dataset=dataset, target=target)

    # then the dataset is unchanged
    dataset.refresh_from_db()
    assert dataset.target == ""


def test_delete_removes_row_and_file(django_capture_on_commit_callbacks):
    # given a stored dataset
    dataset, _ = ingest(good_csv())
    path = dataset.absolute_path

    # when it is deleted
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_delete(dataset=dataset)

    # then the row and the file are gone
    assert not Dataset.objects.exists()
    assert not path.exists()


def test_delete_is_refused_while_a_model_version_uses_the_dataset():
    # given a dataset a model version was trained on
    dataset, _ = ingest(good_csv())
    model = RegisteredModel.objects.create(name="churn")
    ModelVersion.objects.create(registered_model=model, version=1, dataset=dataset)

    # when someone deletes it
    with pytest.raises(Conflict, match="used by 1 model version"):
        services.dataset_delete(dataset=dataset)

    # then the dataset and its file remain
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert dataset.absolute_path.exists()


# Each bad file, the words its error must contain, and an optional target to name.
BAD_FILES = {
    "empty": (b"", "empty", ""),
    "whitespace only": (b"\n \n\n", "empty", ""),
    "no header": (b"1,2,3\n" + b"4,5,6\n" * 60, "No header row", ""),
    "ragged rows": (
        b"a,b,c\n" + b"1,2,3\n" * 10 + b"1,2\n" + b"1,2,3\n" * 50,
        "line 12 has 2 fields",
        "",
    ),
    "non-UTF-8": (
        b"name,city\n" + "Zoë,Köln\n".encode("latin-1") * 60,
        "not valid UTF-8",
        "",
    ),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary", ""),
    "duplicate columns": (b"a,b,a\n" + b"1,2,3\n" * 60, "Duplicate column names: a", ""),
    "target missing": (good_csv(), "Target column 'income' is not in the file", "income"),
    "single-class target": (good_csv(), "single class", "region"),
    "fewer than 50 rows": (good_csv(rows=49), "Too few rows: 49 data rows", ""),
    "header only": (b"a,b,c\n", "no data rows", ""),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_file_is_refused_and_nothing_is_stored(case):
    # given a bad file
    content, message, target = BAD_FILES[case]

    # when it is ingested
    with pytest.raises(InvalidInput) as raised:
        ingest(content, target=target)

    # then the error names the problem and nothing remains
    assert message in raised.value.message
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_file_over_the_size_limit_is_refused_while_reading(settings):
    # given a limit of 4 KB and a source far larger, read in chunks
    settings.DATASET_MAX_UPLOAD_BYTES = 4096

    class CountingSource(io.BytesIO):
        bytes_read = 0

        def read(self, size=-1):
            data = super().read(size)
            self.bytes_read += len(data)
            return data

    source = CountingSource(good_csv(rows=200_000))

    # when it is ingested
    with pytest.raises(InvalidInput, match="larger than the 4.0 KB upload limit"):
        services.dataset_ingest(source=source, filename="big.csv")

    # then reading stopped at the first chunk past the limit, and nothing remains
    assert source.bytes_read <= 1024 * 1024
    assert not Dataset.objects.exists()
    assert stored_files() == []
