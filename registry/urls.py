from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.dataset_list, name="dataset_list"),
    path("upload/", views.dataset_upload, name="dataset_upload"),
    path("synthetic/", views.dataset_synthetic, name="dataset_synthetic"),
    path("<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("<int:pk>/target/", views.dataset_set_target, name="dataset_set_target"),
    path("<int:pk>/delete/", views.dataset_delete, name="dataset_delete"),
]
