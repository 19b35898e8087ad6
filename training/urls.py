from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("rows/", views.job_rows_fragment, name="job_rows_fragment"),
    path("new/", views.job_new, name="job_new"),
    path("<int:pk>/", views.job_detail, name="job_detail"),
    path("<int:pk>/status/", views.job_status_fragment, name="job_status_fragment"),
    path("<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
]
