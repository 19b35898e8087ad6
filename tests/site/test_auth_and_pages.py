"""Login everywhere but the health endpoints; tokens; navigation; assets served locally."""

import re

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/datasets/",
    "/datasets/upload/",
    "/datasets/synthetic/",
    "/account/token/",
    "/status/",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_anonymous_users_to_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_a_logged_in_user(page_client, path):
    response = page_client.get(path)

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/datasets/", "/api/schema/", "/api/docs/"])
def test_api_requires_authentication(client, path):
    response = client.get(path)

    assert response.status_code in (401, 403)


def test_login_page_logs_in(client, user):
    # when the login form is posted with the right password
    response = client.post(reverse("login"), {"username": "ada", "password": "s3cret-pass-word"})

    # then the user lands on the dashboard, signed in
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_login_page_rejects_a_wrong_password(client, user):
    response = client.post(reverse("login"), {"username": "ada", "password": "nope"})

    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_logout_ends_the_session(page_client):
    page_client.post(reverse("logout"))

    assert page_client.get("/").status_code == 302


def test_token_page_creates_rotates_and_revokes(page_client, user):
    # when a token is created
    page = page_client.post(reverse("api_token"), {"action": "create"})
    first = Token.objects.get(user=user).key

    # then it is shown once and works against the API
    assert first in page.content.decode()
    assert (
        page_client.get("/api/v1/datasets/", HTTP_AUTHORIZATION=f"Token {first}").status_code == 200
    )

    # when it is replaced, the old key stops working
    page_client.post(reverse("api_token"), {"action": "create"})
    second = Token.objects.get(user=user).key
    assert second != first
    from rest_framework.test import APIClient

    api = APIClient()
    assert api.get("/api/v1/datasets/", HTTP_AUTHORIZATION=f"Token {first}").status_code == 401
    assert api.get("/api/v1/datasets/", HTTP_AUTHORIZATION=f"Token {second}").status_code == 200

    # when it is revoked, no token remains
    page_client.post(reverse("api_token"), {"action": "revoke"})
    assert not Token.objects.filter(user=user).exists()
    assert api.get("/api/v1/datasets/", HTTP_AUTHORIZATION=f"Token {second}").status_code == 401


def test_navigation_shows_only_tabs_whose_pages_exist(page_client):
    html = page_client.get("/").content.decode()
    nav = html.split('<ul class="tabs">')[1].split("</ul>")[0]

    labels = re.findall(r'">([^<]+)</a>', nav)
    assert labels == [
        "Dashboard",
        "Datasets",
        "Training",
        "Registry",
        "Predict",
        "Drift",
        "A/B Tests",
        "Monitoring",
        "Costs",
    ]


def test_every_asset_a_page_uses_is_served_locally(page_client, client):
    # given the pages a user sees
    html = "".join(page_client.get(path).content.decode() for path in ["/", "/datasets/"])
    # a dataset page loads plotly.js too
    from registry.builtin import SYNTHETIC_REFERENCE
    from registry.services import dataset_generate_synthetic

    dataset, _ = dataset_generate_synthetic(params=SYNTHETIC_REFERENCE)
    html += page_client.get(f"/datasets/{dataset.pk}/").content.decode()

    # when every script and stylesheet they reference is fetched
    assets = set(re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html))

    # then none is remote and each is served by the project itself
    assert {"/static/vendor/pico/pico.min.css", "/static/vendor/plotly/plotly.min.js"} <= assets
    for url in assets:
        assert url.startswith("/static/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, url


def test_swagger_ui_uses_local_assets(page_client):
    html = page_client.get("/api/docs/").content.decode()

    scripts = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert scripts
    assert all(not s.startswith(("http://", "https://", "//")) for s in scripts), scripts
    assert any("swagger-ui" in s for s in scripts)


def test_openapi_schema_lists_the_datasets_api(page_client):
    response = page_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/api/v1/datasets/" in response.json()["paths"]


def test_dashboard_lists_models_and_recent_jobs(page_client):
    # given a model with a production version and a queued job
    from tests.registry.factories import make_versions
    from training.models import TrainingJob

    v1, _ = make_versions("churn")
    v1.stage = "production"
    v1.save()
    TrainingJob.objects.create(dataset=v1.dataset, model_name="churn", n_trials=5, config={})

    # when the dashboard is opened
    html = page_client.get("/").content.decode()

    # then both appear with links
    models = html.split('id="dashboard-models"')[1].split("</table>")[0]
    jobs = html.split('id="dashboard-jobs"')[1].split("</table>")[0]
    assert "/models/churn/versions/1/" in models
    assert "0/5" in jobs
