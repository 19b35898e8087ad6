from core import __version__

from .celery import app as celery_app

__all__ = ("celery_app", "__version__")
