"""Which version serves a request, decided in one place.

REST predict, V2 infer, the predict page and batch scoring all call `route` (V2 metadata and
a running batch job, which describe or keep a version already chosen, call `resolve`):

1. A request that names a version or a stage gets exactly that (`resolve`: the per-process
   model cache, refreshed every INFERENCE_RESOLVE_TTL_SECONDS).
2. A request that names neither gets the production version, unless a registered router
   sends it elsewhere. Another app registers one from its `AppConfig.ready()`
   (`register_router`): the A/B test app returns the arm and version for the request's unit,
   and the prediction log rows carry its `ab_test_id` and `arm`. Inference never imports
   that app.

With no router registered a request pays one empty-list check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from inference.serving.cache import Target, model_cache
from inference.validation import RequestError

MAX_UNIT_ID_CHARS = 200


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What a router may base its choice on."""

    model_name: str
    unit_hash: str  # "" when the caller sent no unit id
    source: str  # PredictionLog.Source value


@dataclass(frozen=True, slots=True)
class Route:
    """The version a request is served by, and why."""

    target: Target
    unit_hash: str = ""
    ab_test_id: int | None = None
    arm: str = ""
    # A shadow test: this version also scores the request's rows, logged as `shadow_arm`
    # and never returned.
    shadow: Target | None = None
    shadow_arm: str = ""


# A router gets the request and the version it would otherwise get (production), and
# answers a Route, or None to leave the request alone.
Router = Callable[[RouteRequest, Target], Route | None]
_routers: list[Router] = []


def register_router(router: Router) -> Router:
    """Consult `router` for every request that names no version (usable as a decorator).
    Routers run in registration order; the first that answers a Route decides."""
    if router not in _routers:
        _routers.append(router)
    return router


def unregister_router(router: Router) -> None:
    if router in _routers:
        _routers.remove(router)


def unit_id_hash(unit_id) -> str:
    """A keyed hash of the caller's unit id: stable per id, the id itself never stored."""
    if unit_id is None or unit_id == "":
        return ""
    if not isinstance(unit_id, str | int) or isinstance(unit_id, bool):
        raise RequestError(
            "`unit_id` must be a string or an integer.", reason="bad_request", field="unit_id"
        )
    text = str(unit_id)
    if len(text) > MAX_UNIT_ID_CHARS:
        raise RequestError(
            f"`unit_id` is longer than {MAX_UNIT_ID_CHARS} characters.",
            reason="bad_request",
            field="unit_id",
        )
    return hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def resolve(model_name: str, *, version: int | None = None, stage: str | None = None) -> Target:
    """The named version, else the newest version in `stage`, else production; no routers.
    Raises NotFound, InvalidInput (unknown stage) or Conflict (corrupt version)."""
    return model_cache.resolve(model_name, version=version, stage=stage)


def route(
    model_name: str,
    *,
    version: int | None = None,
    stage: str | None = None,
    unit_id=None,
    source: str = "rest",
) -> Route:
    """The version that serves this request (see the module docstring). Raises what
    `resolve` raises, and RequestError for a malformed `unit_id`."""
    unit_hash = unit_id_hash(unit_id)
    target = model_cache.resolve(model_name, version=version, stage=stage)
    if _routers and version is None and stage is None:
        request = RouteRequest(model_name=model_name, unit_hash=unit_hash, source=source)
        for router in _routers:
            chosen = router(request, target)
            if chosen is not None:
                # The unit is the request's, whatever the router filled in.
                return Route(
                    target=chosen.target,
                    unit_hash=unit_hash,
                    ab_test_id=chosen.ab_test_id,
                    arm=chosen.arm,
                    shadow=chosen.shadow,
                    shadow_arm=chosen.shadow_arm,
                )
    return Route(target=target, unit_hash=unit_hash)
