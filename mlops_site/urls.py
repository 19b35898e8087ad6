from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from abtests.api import ABTestViewSet, SampleSizeView
from inference.api import BatchScoringJobViewSet
from inference.urls import api_urlpatterns, page_urlpatterns, v2_urlpatterns
from mlops_site import views
from monitoring import views as monitoring_views
from monitoring.api import (
    CostRateViewSet,
    CostRecordViewSet,
    CostReportView,
    DriftCheckViewSet,
    DriftMonitorViewSet,
    EventViewSet,
    PerformanceSnapshotViewSet,
    WebhookViewSet,
)
from registry.api import (
    DatasetViewSet,
    HubExportViewSet,
    ModelVersionViewSet,
    RegisteredModelViewSet,
    StageTransitionViewSet,
    version_card,
    version_hub_export,
)
from training.api import TrainingJobViewSet

router = DefaultRouter()
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("training-jobs", TrainingJobViewSet, basename="training-job")
router.register("models", RegisteredModelViewSet, basename="registered-model")
router.register("versions", ModelVersionViewSet, basename="model-version")
router.register("transitions", StageTransitionViewSet, basename="stage-transition")
router.register("batch-jobs", BatchScoringJobViewSet, basename="batch-job")
router.register("drift-monitors", DriftMonitorViewSet, basename="drift-monitor")
router.register("drift-checks", DriftCheckViewSet, basename="drift-check")
router.register("ab-tests", ABTestViewSet, basename="ab-test")
router.register(
    "performance-snapshots", PerformanceSnapshotViewSet, basename="performance-snapshot"
)
router.register("events", EventViewSet, basename="event")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("cost-records", CostRecordViewSet, basename="cost-record")
router.register("cost-rates", CostRateViewSet, basename="cost-rate")
router.register("hub-exports", HubExportViewSet, basename="hub-export")

urlpatterns = [
    # The prediction endpoints first: URL resolution walks this list on every request.
    path("api/v1/", include(api_urlpatterns)),
    path("", include(v2_urlpatterns)),
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", monitoring_views.metrics, name="metrics"),
    path("status/", views.system_status_fragment, name="system_status"),
    path("status/probe", views.worker_probe_start, name="worker_probe"),
    path("account/token/", views.api_token, name="api_token"),
    path(
        "accounts/login/",
        login_not_required(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/ab-tests/sample-size", SampleSizeView.as_view(), name="ab_sample_size"),
    path("api/v1/costs/report", CostReportView.as_view(), name="cost_report"),
    path("api/v1/versions/<int:pk>/card", version_card, name="version_card"),
    path(
        "api/v1/versions/<int:pk>/hub-exports",
        version_hub_export,
        name="version_hub_export",
    ),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("", include("registry.urls")),
    path("training/", include("training.urls")),
    path("", include("monitoring.urls")),
    path("ab-tests/", include("abtests.urls")),
    path("predict/", include((page_urlpatterns, "inference"))),
]
