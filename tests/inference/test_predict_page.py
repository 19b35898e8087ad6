"""The Predict pages: the signature form, a prediction with its chart, feedback from the table.

No worker runs here: predictions are served in-process by the page, as in production.
"""

import json
import re

import pandas as pd
import pytest
from django.test import Client
from django.utils.html import escape

from inference.models import PredictionLog
from inference.serving.cache import model_cache
from registry.services import model_version_load
from tests.inference.models import feature_rows, production, register

pytestmark = pytest.mark.django_db

URL = "/predict/adult/"


@pytest.fixture(autouse=True)
def _empty_model_cache():
    model_cache.clear()
    yield
    model_cache.clear()


def _form_data(row: dict) -> dict:
    data = {}
    for name, value in row.items():
        if value is None:
            value = ""
        elif isinstance(value, float) and value.is_integer():
            value = str(int(value))
        data[f"feature-{name}"] = str(value)
    return data


def _chart_data(html: str) -> list:
    match = re.search(r'<script id="charts-data" type="application/json">(.*?)</script>', html)
    return json.loads(match.group(1))


def test_predict_tab_lists_models_with_a_production_version(page_client):
    # given one model in production
    register("logreg")

    # when the Predict tab is opened
    response = page_client.get("/predict/")

    # then it links to the model's predict page, and the tab is in the navigation
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="{URL}"' in html
    assert 'href="/predict/" aria-current="page">Predict</a>' in html


def test_form_has_a_field_per_feature_with_categories_and_training_ranges(page_client):
    # given a version whose signature has numeric and categorical features
    version = register("logreg")
    features = {f["name"]: f for f in version.signature["features"]}

    # when its predict page is opened
    response = page_client.get(URL)

    # then every feature has a field, in signature order
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields) == list(features)
    html = response.content.decode()
    for name in features:
        assert f'name="feature-{name}"' in html
    # and a categorical feature is a dropdown of its training categories plus "(missing)"
    workclass = features["workclass"]
    select = re.search(r'<select name="feature-workclass".*?</select>', html, re.S).group(0)
    options = re.findall(r'<option value="([^"]*)"', select)
    assert options == ["", *workclass["categories"]]
    assert "(missing)" in select
    # and a numeric feature is a number input whose hint is the training range
    age = features["age"]
    low, high = int(age["min"]), int(age["max"])
    assert re.search(r'<input type="number" name="feature-age"[^>]*step="any"', html)
    assert f"training range {low} – {high}" in html
    assert f'placeholder="{low} – {high}"' in html
    # and the form is prefilled with the version's input example
    example = version.input_example[0]
    assert form.initial["workclass"] == (example["workclass"] or "")


def test_posting_a_row_shows_the_prediction_and_chart_and_logs_it(page_client):
    # given a version in production and one Adult row
    version = register("hgb")
    row = feature_rows(1)[0]

    # when the form is posted
    response = page_client.post(URL, _form_data(row))

    # then the page shows the label the registry's loader gives, with the prediction id
    assert response.status_code == 200, response.context["form"].errors
    fitted = model_version_load(version=version)
    frame = pd.DataFrame([row])
    expected_label = fitted.predict(frame)[0]
    expected_proba = fitted.predict_proba(frame)[0]
    result = response.context["result"]
    assert result["label"] == expected_label
    html = response.content.decode()
    assert f'<span id="predicted-label">{escape(expected_label)}</span>' in html
    # and one prediction was logged from the page, under the id shown
    log = PredictionLog.objects.get()
    assert log.source == PredictionLog.Source.PAGE
    assert str(log.id) == result["id"] and str(log.id) in html
    assert log.features == row
    # and the chart data is a horizontal bar of the class probabilities
    chart = _chart_data(html)[0]
    assert chart["id"] == "chart-probabilities"
    trace = chart["figure"]["data"][0]
    assert trace["type"] == "bar" and trace["orientation"] == "h"
    assert trace["y"] == version.class_labels
    assert trace["x"] == pytest.approx(expected_proba.tolist(), abs=1e-9)


def test_empty_fields_are_missing_values(page_client):
    # given a version in production
    register("logreg")
    data = _form_data(feature_rows(1)[0])
    data["feature-age"] = ""
    data["feature-workclass"] = ""

    # when the form is posted with two fields left empty
    response = page_client.post(URL, data)

    # then they were served as missing values
    assert response.status_code == 200
    log = PredictionLog.objects.get()
    assert log.features["age"] is None and log.features["workclass"] is None


def test_a_bad_number_is_a_form_error_and_nothing_is_logged(page_client):
    # given a version in production
    register("logreg")
    data = _form_data(feature_rows(1)[0])
    data["feature-age"] = "forty"

    # when a word is posted in a numeric field
    response = page_client.post(URL, data)

    # then the form shows an error naming the field, and nothing was served
    assert response.status_code == 400
    assert response.context["form"].errors["age"] == ["'age' must be a number, not 'forty'."]
    assert "must be a number, not" in response.content.decode()
    assert response.context["result"] is None
    assert not PredictionLog.objects.exists()


def test_a_pinned_version_is_served_when_asked_for(page_client):
    # given two versions, the first in production
    register("logreg")
    register("hgb")

    # when the page of version 2 predicts
    response = page_client.post(URL + "?version=2", _form_data(feature_rows(1)[0]))

    # then version 2 served it
    assert response.status_code == 200
    assert PredictionLog.objects.get().model_version.version == 2
    assert response.context["result"]["version"] == 2


def test_recording_a_true_label_from_the_table_updates_the_row_and_redirects(page_client):
    # given a prediction made on the page
    register("logreg")
    page_client.post(URL, _form_data(feature_rows(1)[0]))
    log = PredictionLog.objects.get()
    truth = production().class_labels[0]
    page = page_client.get(URL).content.decode()
    assert f'<input type="hidden" name="prediction_id" value="{log.pk}">' in page

    # when its true label is recorded from the recent-predictions table
    response = page_client.post(URL + "feedback/", {"prediction_id": str(log.pk), "label": truth})

    # then the page redirects back and the prediction carries the label
    assert response.status_code == 302
    assert response["Location"] == URL + "#recent"
    log.refresh_from_db()
    assert log.label == truth
    assert log.is_correct == (log.prediction == truth)
    # and the page shows it, with the live accuracy of the version
    page = page_client.get(URL)
    assert "recorded" in [str(m) for m in page.context["messages"]][0]
    accuracy = page.context["accuracy_rows"][0]["live"]
    assert (accuracy.labelled, accuracy.correct) == (1, int(log.is_correct))


def test_a_different_label_is_a_conflict_unless_overwrite_is_ticked(page_client):
    # given a labelled prediction
    register("logreg")
    page_client.post(URL, _form_data(feature_rows(1)[0]))
    log = PredictionLog.objects.get()
    first, second = production().class_labels[:2]
    page_client.post(URL + "feedback/", {"prediction_id": str(log.pk), "label": first})

    # when another label is sent without overwrite
    response = page_client.post(
        URL + "feedback/", {"prediction_id": str(log.pk), "label": second}, follow=True
    )

    # then the label is kept and the page says how to replace it
    log.refresh_from_db()
    assert log.label == first
    html = response.content.decode()
    assert "already labelled" in html and "overwrite" in html
    assert response.redirect_chain[-1] == (URL + "#recent", 302)

    # when it is sent again with overwrite ticked
    page_client.post(
        URL + "feedback/", {"prediction_id": str(log.pk), "label": second, "overwrite": "on"}
    )

    # then the new label replaced the old one
    log.refresh_from_db()
    assert log.label == second


def test_an_unknown_label_is_refused_with_a_message(page_client):
    register("logreg")
    page_client.post(URL, _form_data(feature_rows(1)[0]))
    log = PredictionLog.objects.get()

    response = page_client.post(
        URL + "feedback/", {"prediction_id": str(log.pk), "label": "maybe"}, follow=True
    )

    log.refresh_from_db()
    assert log.label is None
    assert escape("is not one of the model's classes") in response.content.decode()


def test_predict_pages_need_a_login(client):
    # given a version in production and a visitor who is not logged in
    register("logreg")

    # when they open or post to the pages
    responses = [
        client.get("/predict/"),
        client.get(URL),
        client.post(URL, _form_data(feature_rows(1)[0])),
        client.post(URL + "feedback/", {"prediction_id": "x", "label": "y"}),
    ]

    # then each is sent to the login page and nothing was served
    for response in responses:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert not PredictionLog.objects.exists()


def test_feedback_form_is_csrf_protected(user):
    # given a logged-in browser that enforces CSRF and a prediction
    register("logreg")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    # when a label is posted without the token
    response = browser.post(URL + "feedback/", {"prediction_id": "x", "label": "y"})

    # then it is refused
    assert response.status_code == 403
