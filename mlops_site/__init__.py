from .celery import app as celery_app

__version__ = "0.4.0"
__all__ = ("celery_app", "__version__")
