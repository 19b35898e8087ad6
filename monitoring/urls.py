from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.drift, name="drift"),
    path("checks/<int:pk>/", views.drift_check_detail, name="drift_check"),
    path("checks/<int:pk>/status", views.drift_check_status_fragment, name="drift_check_status"),
    path("checks/<int:pk>/report", views.drift_check_report, name="drift_check_report"),
    path("<slug:name>/", views.drift_model, name="drift_model"),
    path("<slug:name>/check", views.drift_check_now, name="drift_check_now"),
    path("<slug:name>/retrain", views.drift_retrain_now, name="drift_retrain_now"),
]
