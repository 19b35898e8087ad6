from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Installed for its template tags (`{% load modelyard_ui %}`, used by every app's pages);
    core has no tables of its own."""

    name = "core"
    verbose_name = "Core"
