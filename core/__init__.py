"""Shared Django-aware building blocks every app may import: domain errors, permissions, the
job runner, the chart palette and the site-wide template tags. It imports no app, and the
apps reach one another only through their `services` / `selectors` (see `.importlinter`).
"""

__version__ = "0.4.0"
