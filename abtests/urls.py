from django.urls import path

from abtests import views

app_name = "abtests"

urlpatterns = [
    path("", views.abtest_list, name="list"),
    path("<int:pk>/", views.abtest_detail, name="detail"),
    path("<int:pk>/stop", views.abtest_stop, name="stop"),
    path("<int:pk>/promote", views.abtest_promote, name="promote"),
    path("<int:pk>/rollback", views.abtest_rollback, name="rollback"),
    path("<int:pk>/evaluate", views.abtest_evaluate, name="evaluate"),
    path("new/<slug:name>/", views.abtest_new, name="new"),
]
