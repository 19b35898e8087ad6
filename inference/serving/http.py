"""The prediction endpoints' plumbing: authentication, JSON bodies in and out, errors.

The predict and V2 infer views are plain Django views rather than DRF ones: on a single-row
request DRF's request wrapping, negotiation and renderers cost more than the model
(bench/serving/README.md). They keep DRF's rules: a `Token` header or a logged-in session
(with its CSRF check), and every error a JSON body.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from functools import wraps

import orjson
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck, TokenAuthentication

from core.errors import DomainError
from inference.validation import RequestError

logger = logging.getLogger(__name__)
_token_auth = TokenAuthentication()


class _TokenCache:
    """Token key → user for TOKEN_AUTH_CACHE_SECONDS, per process.

    A prediction otherwise spends a database round trip on the token before any work; with
    the cache a revoked or rotated token keeps working in a process for at most that long
    (the README says so). Bounded: cleared whole when it grows past `limit` keys.
    """

    def __init__(self, limit: int = 1024):
        self.limit = limit
        self._entries: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def user(self, key: str):
        ttl = settings.TOKEN_AUTH_CACHE_SECONDS
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        user, _token = _token_auth.authenticate_credentials(key)  # AuthenticationFailed
        if ttl > 0:
            with self._lock:
                if len(self._entries) >= self.limit:
                    self._entries.clear()
                self._entries[key] = (now + ttl, user)
        return user

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


token_cache = _TokenCache()


def json_response(data, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data), status=status, content_type="application/json")


def _csrf_failure(request: HttpRequest) -> str | None:
    check = CSRFCheck(lambda _request: None)
    check.process_request(request)
    rejected = check.process_view(request, None, (), {})
    return None if rejected is None else "CSRF check failed: send the csrftoken cookie's value."


def authenticate(request: HttpRequest) -> tuple[int, str] | None:
    """None when the caller may proceed; else (status, message). Sets request.user."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "token":
            return 401, "Authorization must be 'Token <key>'."
        try:
            user = token_cache.user(parts[1])
        except exceptions.AuthenticationFailed as exc:
            return 401, str(exc.detail)
        request.user = user
        return None
    if request.user.is_authenticated:
        failure = _csrf_failure(request) if request.method == "POST" else None
        return None if failure is None else (403, failure)
    return 401, "Authentication credentials were not provided (Token header or login)."


def read_json_body(request: HttpRequest):
    """The parsed body; RequestError for a body over the limit or not JSON.

    orjson first (several times faster on number-heavy bodies); when it refuses, the json
    module decides, because it also accepts NaN and Infinity literals, which validation then
    refuses with the row and field named rather than a bare syntax error.
    """
    limit = settings.PREDICT_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise RequestError(
            f"The request body is {length} bytes; the limit is {limit}.",
            reason="body_too_large",
            field="body",
        )
    body = request.read(limit + 1)
    if len(body) > limit:
        raise RequestError(
            f"The request body is over the limit of {limit} bytes.",
            reason="body_too_large",
            field="body",
        )
    if not body:
        raise RequestError("The request body is empty; send JSON.", reason="invalid_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"The body is not valid JSON: {exc}", reason="invalid_json") from None


def prediction_endpoint(error_body: Callable[[str, str, dict], dict]):
    """Decorator for the prediction views: POST/GET plumbing, auth, errors as JSON.

    `error_body(code, message, extra)` shapes an error for the protocol (REST or V2). The
    view receives `started` (perf_counter at entry) to measure the whole request.
    """

    def decorate(view):
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            started = time.perf_counter()
            # The serving thread's CPU clock at arrival: predictions_serve charges the
            # request's CPU time to the version that served it (core.costs).
            request.cpu_started = time.thread_time() if settings.COST_INFERENCE_CPU else None
            denied = authenticate(request)
            if denied is not None:
                status, message = denied
                code = "not_authenticated" if status == 401 else "permission_denied"
                response = json_response(error_body(code, message, {}), status)
                if status == 401:
                    response["WWW-Authenticate"] = "Token"
                return response
            try:
                return view(request, *args, started=started, **kwargs)
            except RequestError as exc:
                extra = {k: v for k, v in exc.as_dict().items() if k in ("field", "row")}
                return json_response(error_body(exc.reason, exc.message, extra), 400)
            except DomainError as exc:
                extra = {"field": exc.field} if exc.field else {}
                return json_response(error_body(exc.code, exc.message, extra), exc.status_code)
            except (OperationalError, InterfaceError):
                # A dropped database connection (a restart): Django replaces it after this
                # request. The caller may retry at once.
                logger.warning("database unavailable during %s", request.path, exc_info=True)
                response = json_response(
                    error_body("unavailable", "The database is unavailable; retry.", {}), 503
                )
                response["Retry-After"] = "1"
                return response

        return wrapper

    return decorate


def rest_error(code: str, message: str, extra: dict) -> dict:
    return {"error": code, "detail": message, **extra}


def v2_error(code: str, message: str, extra: dict) -> dict:
    del code, extra  # the V2 protocol's error body is a single message
    return {"error": message}


def method_not_allowed(allowed: str, error_body) -> HttpResponse:
    response = json_response(
        error_body("method_not_allowed", f"Use {allowed} on this endpoint.", {}), 405
    )
    response["Allow"] = allowed
    return response
