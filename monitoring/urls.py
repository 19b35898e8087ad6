from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("drift/", views.drift, name="drift"),
    path("drift/checks/<int:pk>/", views.drift_check_detail, name="drift_check"),
    path(
        "drift/checks/<int:pk>/status",
        views.drift_check_status_fragment,
        name="drift_check_status",
    ),
    path("drift/checks/<int:pk>/report", views.drift_check_report, name="drift_check_report"),
    path("drift/<slug:name>/", views.drift_model, name="drift_model"),
    path("drift/<slug:name>/check", views.drift_check_now, name="drift_check_now"),
    path("drift/<slug:name>/retrain", views.drift_retrain_now, name="drift_retrain_now"),
    path("monitoring/", views.monitoring_overview, name="overview"),
    path("costs/", views.costs, name="costs"),
    path("monitoring/webhooks/", views.webhooks, name="webhooks"),
    path("monitoring/webhooks/<int:pk>/test", views.webhook_test, name="webhook_test"),
    path("monitoring/webhooks/<int:pk>/delete", views.webhook_delete, name="webhook_delete"),
    path("monitoring/<slug:name>/", views.monitoring_model, name="monitoring_model"),
]
