from django.apps import AppConfig


class AbtestsConfig(AppConfig):
    name = "abtests"
    verbose_name = "A/B tests"

    def ready(self) -> None:
        # Inference never imports this app: it consults the routers registered with it.
        from abtests.services import ab_router
        from inference.services import register_router

        register_router(ab_router)
