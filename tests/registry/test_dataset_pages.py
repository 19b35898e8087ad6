"""Dataset pages: upload form errors, detail with charts, target, delete, synthetic form."""

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from core.uploads import MULTIPART_OVERHEAD
from registry.builtin import adult_load
from registry.models import Dataset
from tests.registry.csv_samples import as_upload, good_csv
from tests.registry.test_dataset_ingest import BAD_FILES, stored_files

pytestmark = pytest.mark.django_db


def test_upload_page_stores_and_redirects_to_the_dataset(page_client):
    # when a valid CSV is uploaded through the form
    response = page_client.post(
        reverse("registry:dataset_upload"),
        {"file": as_upload(good_csv()), "name": "Churn", "target": "churn"},
    )

    # then the dataset exists and the browser goes to its page
    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:dataset_detail", args=[dataset.pk])
    assert dataset.target == "churn"


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_upload_page_shows_a_form_error_and_stores_nothing(page_client, case):
    # given a bad file
    content, message, target = BAD_FILES[case]

    # when it is uploaded through the form
    response = page_client.post(
        reverse("registry:dataset_upload"), {"file": as_upload(content), "target": target}
    )

    # then the form comes back with the error, and nothing is stored
    assert response.status_code == 400
    errors = response.context["form"].errors.get_json_data()
    texts = " ".join(e["message"] for field in errors.values() for e in field)
    assert message in texts
    assert escape(message) in response.content.decode()
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_upload_page_stops_streaming_past_the_limit(page_client, settings):
    # given a 100 KB limit and a 134 KB file: its Content-Length is within the multipart slack,
    # so the per-chunk check, not the up-front one, is what stops it
    settings.DATASET_MAX_UPLOAD_BYTES = 100 * 1024
    content = good_csv(rows=3500)
    assert 100 * 1024 < len(content) < 100 * 1024 + MULTIPART_OVERHEAD - 4096

    # when it is uploaded
    response = page_client.post(reverse("registry:dataset_upload"), {"file": as_upload(content)})

    # then the form says why and nothing is stored
    assert response.status_code == 400
    assert "larger than the 100.0 KB upload limit" in response.content.decode()
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_adult_detail_page_shows_15_columns_kinds_and_charts(page_client):
    # given the built-in Adult dataset
    dataset, _ = adult_load()

    # when its page is opened
    response = page_client.get(reverse("registry:dataset_detail", args=[dataset.pk]))

    # then the column table lists its 15 columns with kinds, and a chart per column,
    # the target's first and drawn from its class counts
    html = response.content.decode()
    assert response.status_code == 200
    assert dataset.column_count == 15
    assert html.count('<span class="badge badge-kind-numeric">') == 6
    assert html.count('<span class="badge badge-kind-categorical">') == 9
    charts = json.loads(
        html.split('<script id="charts-data" type="application/json">')[1].split("</script>")[0]
    )
    assert len(charts) == 15
    first = charts[0]["figure"]
    assert first["layout"]["title"]["text"] == "income (target)"
    assert dict(zip(first["data"][0]["x"], first["data"][0]["y"], strict=True)) == {
        "<=50K": 37155,
        ">50K": 11687,
    }
    assert "vendor/plotly/plotly.min.js" in html
    assert "Becker" in html  # the attribution travels with the data


def test_set_target_from_the_page(page_client):
    # given a dataset without a target
    page_client.post(reverse("registry:dataset_upload"), {"file": as_upload(good_csv())})
    dataset = Dataset.objects.get()

    # when a column is chosen as target
    page_client.post(reverse("registry:dataset_set_target", args=[dataset.pk]), {"target": "plan"})

    # then it is stored
    dataset.refresh_from_db()
    assert dataset.target == "plan"


def test_delete_button_is_staff_only(page_client, staff_client, user):
    # given a dataset
    staff_client.post(reverse("registry:dataset_upload"), {"file": as_upload(good_csv())})
    dataset = Dataset.objects.get()
    url = reverse("registry:dataset_delete", args=[dataset.pk])

    # when a non-staff user posts the delete, then a staff user does
    page_client.force_login(user)
    refused = page_client.post(url)
    detail_html = page_client.get(reverse("registry:dataset_detail", args=[dataset.pk])).content

    # then the first is forbidden (and the button hidden from them)
    assert refused.status_code == 403
    assert b"Delete dataset" not in detail_html
    assert Dataset.objects.exists()


def test_synthetic_form_generates_a_dataset(page_client):
    # when the generator form is posted with drift knobs
    response = page_client.post(
        reverse("registry:dataset_synthetic"),
        {
            "rows": 300,
            "features": 5,
            "informative_share": 0.6,
            "n_classes": 3,
            "class_balance": 0.3,
            "label_noise": 0.0,
            "class_sep": 1.0,
            "seed": 11,
            "mean_shift": 0.5,
            "scale_change": 1.0,
            "prior_shift": 0.0,
            "drift_features": 2,
        },
    )

    # then a three-class dataset is stored with the drift recorded
    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert dataset.target_kind == "multiclass"
    assert dataset.source_params["drifted"] == ["x0", "x1"]


def test_synthetic_form_reports_bad_values(page_client):
    response = page_client.post(reverse("registry:dataset_synthetic"), {"rows": 5, "features": 0})

    assert response.status_code == 400
    assert "rows" in response.context["form"].errors
    assert not Dataset.objects.exists()


def test_dataset_list_page_lists_datasets(page_client):
    page_client.post(
        reverse("registry:dataset_upload"), {"file": as_upload(good_csv()), "name": "Churn A"}
    )

    response = page_client.get(reverse("registry:dataset_list"))

    assert response.status_code == 200
    assert "Churn A" in response.content.decode()
