from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    # Datasets
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/upload/", views.dataset_upload, name="dataset_upload"),
    path("datasets/synthetic/", views.dataset_synthetic, name="dataset_synthetic"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/target/", views.dataset_set_target, name="dataset_set_target"),
    path("datasets/<int:pk>/delete/", views.dataset_delete, name="dataset_delete"),
    # Models and their versions
    path("models/", views.model_list, name="model_list"),
    # before models/<name>/: "import" is not a model's name
    path("models/import/", views.version_import, name="version_import"),
    path("models/<slug:name>/", views.model_detail, name="model_detail"),
    path("models/<slug:name>/compare/", views.version_compare, name="version_compare"),
    path(
        "models/<slug:name>/versions/<int:version>/",
        views.version_detail,
        name="version_detail",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/hub-export",
        views.version_hub_export,
        name="version_hub_export",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/hub-exports/rows",
        views.version_hub_export_rows,
        name="version_hub_export_rows",
    ),
    path("hub-token/", views.hub_token, name="hub_token"),
    path(
        "models/<slug:name>/versions/<int:version>/README.md",
        views.version_card,
        {"fmt": "md"},
        name="version_card_md",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/card.json",
        views.version_card,
        {"fmt": "json"},
        name="version_card_json",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/transition/",
        views.version_transition,
        name="version_transition",
    ),
]
