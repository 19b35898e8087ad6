"""The prediction endpoints' own short middleware chain.

Django runs every middleware in settings.MIDDLEWARE on every request. Measured on the serving
benchmark (bench/serving/README.md), the chain cost about a tenth of a 100-row prediction's
CPU and more of a single row's, and the prediction endpoints use little of it: they are
CSRF-exempt and check CSRF themselves for session callers, answer JSON (no messages, frame
options or static files), need no login redirect, and count themselves in Prometheus
(`inference.metrics`) instead of django-prometheus's generic counters.

`PredictionFastLane` comes first in MIDDLEWARE. A request for a prediction path goes through
security headers, sessions and authentication (the session callers of the Predict page) and
then straight to its view; everything else goes down the full chain, and so does a view on
those paths that is not marked `login_not_required` (the lane enforces no login).
"""

from __future__ import annotations

import re

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.handlers.exception import convert_exception_to_response
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve

from inference.serving.http import json_response, rest_error, v2_error

# REST predict, and the whole V2 protocol (health, metadata, infer).
PREDICTION_PATH = re.compile(r"/api/v1/models/[^/]+/predict|/v2(?:/.*)?")


def is_prediction_path(path: str) -> bool:
    return PREDICTION_PATH.fullmatch(path) is not None


def _not_found(path: str):
    # e.g. /v2/models/x/versions/1/explain, or a model name that is not a slug: the
    # protocols' JSON error, not the HTML 404 page.
    message = f"No such endpoint: {path}"
    error = v2_error if path.startswith("/v2") else rest_error
    return json_response(error("not_found", message, {}), 404)


def _call_view(request):
    match = request.resolver_match
    return match.func(request, *match.args, **match.kwargs)


class PredictionFastLane:
    LANE = (SecurityMiddleware, SessionMiddleware, AuthenticationMiddleware)

    def __init__(self, get_response):
        self.get_response = get_response
        # Built as Django's handler builds its chain: each layer turns exceptions into
        # responses (404, 400, 500 pages) for the one outside it.
        lane = convert_exception_to_response(_call_view)
        for middleware in reversed(self.LANE):
            lane = convert_exception_to_response(middleware(lane))
        self.lane = lane

    def __call__(self, request):
        if not is_prediction_path(request.path_info):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return _not_found(request.path_info)
        if getattr(match.func, "login_required", True):
            # The lane has no LoginRequiredMiddleware: only views that authenticate
            # themselves (marked login_not_required, as every prediction view is) take it.
            return self.get_response(request)
        request.resolver_match = match
        return self.lane(request)
