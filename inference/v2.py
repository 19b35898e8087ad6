"""The V2 Open Inference Protocol (KServe, Triton, MLServer), REST flavour.

https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/

Two tabular encodings of an infer request:

1. One tensor, FP32/FP64 (or an integer type), shape [N, F], features in signature order:
   numeric-only models.
2. One input per column, `parameters.content_type = "pd"` on the request (MLServer's pandas
   codec): BYTES for categorical columns, numbers or BOOL for the others, each of shape [N]
   (or [N, 1]).

Outputs: `predict` (BYTES [N]), `predict_proba` (FP64 [N, K], class order in its
parameters) and `prediction_id` (BYTES [N], for ground-truth feedback). Errors are
`{"error": message}` with 400 or 404.
"""

from __future__ import annotations

import numpy as np
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.views.decorators.http import require_GET

from core import __version__
from inference.models import PredictionLog
from inference.services import predictions_serve
from inference.serving.cache import model_cache
from inference.serving.http import (
    json_response,
    method_not_allowed,
    prediction_endpoint,
    read_json_body,
    v2_error,
)
from inference.serving.routing import resolve, route
from inference.validation import RequestError

NUMERIC_TYPES = {
    "FP16": np.float64,
    "FP32": np.float64,
    "FP64": np.float64,
    "INT8": np.float64,
    "INT16": np.float64,
    "INT32": np.float64,
    "INT64": np.float64,
    "UINT8": np.float64,
    "UINT16": np.float64,
    "UINT32": np.float64,
    "UINT64": np.float64,
}
DATATYPES = {*NUMERIC_TYPES, "BOOL", "BYTES"}
KIND_DATATYPE = {"numeric": "FP64", "boolean": "BOOL", "categorical": "BYTES"}
OUTPUTS = ("predict", "predict_proba", "prediction_id")


@login_not_required
@require_GET
def health_live(request):
    return json_response({"live": True})


@login_not_required
@require_GET
def health_ready(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        ready = True
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        ready = False
    return json_response({"ready": ready}, 200 if ready else 503)


@prediction_endpoint(v2_error)
def server_metadata(request, *, started: float):
    if request.method != "GET":
        return method_not_allowed("GET", v2_error)
    return json_response({"name": "modelyard", "version": __version__, "extensions": []})


def _version_number(version: str | None) -> int | None:
    if version is None:
        return None
    if not version.isdigit() or len(version) > 9:
        raise RequestError(f"Version {version!r} is not a version number.", reason="bad_request")
    return int(version)


def _serving(name: str, version: str | None):
    target = resolve(name, version=_version_number(version))
    return target, model_cache.get(target)


@prediction_endpoint(v2_error)
def model_metadata(request, name: str, version: str | None = None, *, started: float):
    if request.method != "GET":
        return method_not_allowed("GET", v2_error)
    target, serving = _serving(name, version)
    features = serving.signature.get("features") or [
        {"name": n, "kind": k} for n, k in serving.encoder.kinds.items()
    ]
    k = len(serving.class_labels)
    return json_response(
        {
            "name": target.model_name,
            "versions": [str(target.version)],
            "platform": f"modelyard-{serving.family}",
            "inputs": [
                {
                    "name": f["name"],
                    "datatype": KIND_DATATYPE[f["kind"]],
                    "shape": [-1],
                    "parameters": {"content_type": "pd"},
                }
                for f in features
            ],
            "outputs": [
                {"name": "predict", "datatype": "BYTES", "shape": [-1]},
                {
                    "name": "predict_proba",
                    "datatype": "FP64",
                    "shape": [-1, k],
                    "parameters": {"class_labels": serving.class_labels},
                },
                {"name": "prediction_id", "datatype": "BYTES", "shape": [-1]},
            ],
            "parameters": {
                "stage": target.stage,
                "content_type": "pd",
                "tensor_input": serving.numeric_only,
            },
        }
    )


@prediction_endpoint(v2_error)
def model_ready(request, name: str, version: str | None = None, *, started: float):
    if request.method != "GET":
        return method_not_allowed("GET", v2_error)
    target, _serving_model = _serving(name, version)
    return json_response({"name": target.model_name, "ready": True})


def _flatten(data, what: str) -> list:
    if not isinstance(data, list):
        raise RequestError(f"{what}: `data` must be a list.", reason="bad_request", field=what)
    if data and isinstance(data[0], list):
        flat = []
        stack = [data]
        # Row-major flattening of nested lists, any depth.
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            else:
                flat.append(item)
        return flat
    return data


def _shape(value, what: str) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)
    ):
        raise RequestError(
            f"{what}: `shape` must be a list of non-negative integers.",
            reason="bad_request",
            field=what,
        )
    return value


def _decode_inputs(inputs: list, serving, content_type: str | None) -> tuple[dict, int]:
    """The request's inputs as one value list per feature, and the row count."""
    for item in inputs:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise RequestError(
                "Each input needs a `name`, `shape`, `datatype` and `data`.",
                reason="bad_request",
                field="inputs",
            )
        datatype = item.get("datatype")
        if datatype not in DATATYPES:
            raise RequestError(
                f"Input {item['name']!r}: unknown datatype {datatype!r}.",
                reason="bad_request",
                field=item["name"],
            )
    names = serving.feature_names
    by_column = content_type == "pd" or len(inputs) > 1 or inputs[0]["name"] in names
    if not by_column:
        return _decode_tensor(inputs[0], serving)
    columns: dict[str, list] = {}
    for item in inputs:
        name = item["name"]
        if name not in serving.encoder.name_set:
            raise RequestError(
                f"Unexpected input {name!r}; the model reads {', '.join(names)}.",
                reason="unexpected_feature",
                field=name,
            )
        if name in columns:
            raise RequestError(f"Input {name!r} appears twice.", reason="bad_request", field=name)
        shape = _shape(item.get("shape"), name)
        values = _flatten(item.get("data"), name)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(
                f"Input {name!r}: a column has shape [N] or [N, 1], not {shape}.",
                reason="bad_request",
                field=name,
            )
        if shape[0] != len(values):
            raise RequestError(
                f"Input {name!r}: shape {shape} but {len(values)} values.",
                reason="bad_request",
                field=name,
            )
        columns[name] = values
    missing = [n for n in names if n not in columns]
    if missing:
        raise RequestError(
            f"Missing input {missing[0]!r}; send one input per feature "
            "(parameters.content_type 'pd').",
            reason="missing_feature",
            field=missing[0],
        )
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise RequestError(
            "Every input column must have the same number of rows.", reason="bad_request"
        )
    n = lengths.pop()
    serving.encoder.check_row_count(n)
    return columns, n


def _decode_tensor(item: dict, serving) -> tuple[dict, int]:
    name = item["name"]
    if not serving.numeric_only:
        raise RequestError(
            f"Input {name!r}: this model has non-numeric features, so it takes one input per "
            "column with parameters.content_type 'pd', not a single tensor.",
            reason="bad_request",
            field=name,
        )
    if item["datatype"] not in NUMERIC_TYPES:
        raise RequestError(
            f"Input {name!r}: a tensor input must be numeric (FP32/FP64), not {item['datatype']}.",
            reason="wrong_type",
            field=name,
        )
    shape = _shape(item.get("shape"), name)
    width = len(serving.feature_names)
    if len(shape) != 2 or shape[1] != width:
        raise RequestError(
            f"Input {name!r}: shape must be [N, {width}] (features in signature order: "
            f"{', '.join(serving.feature_names)}), not {shape}.",
            reason="bad_request",
            field=name,
        )
    values = _flatten(item.get("data"), name)
    n = shape[0]
    if len(values) != n * width:
        raise RequestError(
            f"Input {name!r}: shape {shape} needs {n * width} values, got {len(values)}.",
            reason="bad_request",
            field=name,
        )
    serving.encoder.check_row_count(n)
    if not all(type(v) in (int, float) for v in values):
        i = next(i for i, v in enumerate(values) if type(v) not in (int, float))
        raise RequestError(
            f"Row {i // width}: {serving.feature_names[i % width]!r} must be a number, not "
            f"{values[i]!r}.",
            reason="wrong_type",
            field=serving.feature_names[i % width],
            row=i // width,
        )
    try:
        matrix = np.asarray(values, dtype=np.float64).reshape(n, width)
    except OverflowError:
        raise RequestError(
            f"Input {name!r}: a value is too large.", reason="not_finite", field=name
        ) from None
    return {f: matrix[:, j] for j, f in enumerate(serving.feature_names)}, n


@prediction_endpoint(v2_error)
def model_infer(request, name: str, version: str | None = None, *, started: float):
    if request.method != "POST":
        return method_not_allowed("POST", v2_error)
    payload = read_json_body(request)
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise RequestError(
            "An infer request is a JSON object with an `inputs` list.",
            reason="bad_request",
            field="inputs",
        )
    if not payload["inputs"]:
        raise RequestError("`inputs` is empty.", reason="empty_batch", field="inputs")
    request_id = payload.get("id")
    if request_id is not None and (
        not isinstance(request_id, str) or len(request_id) > 100 or "\x00" in request_id
    ):
        raise RequestError(
            "`id` must be a string of at most 100 characters, without NUL.",
            reason="bad_request",
            field="id",
        )
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(
            "`parameters` must be an object.", reason="bad_request", field="parameters"
        )
    wanted = _requested_outputs(payload.get("outputs"))
    chosen = route(
        name,
        version=_version_number(version),
        unit_id=parameters.get("unit_id"),
        source=PredictionLog.Source.V2,
    )
    serving = model_cache.get(chosen.target)
    columns, n = _decode_inputs(payload["inputs"], serving, parameters.get("content_type"))
    served = predictions_serve(
        model_name=name,
        columns=columns,
        n_rows=n,
        source=PredictionLog.Source.V2,
        request_id=request_id or "",
        started=started,
        cpu_started=request.cpu_started,
        chosen=chosen,
    )
    outputs = []
    if "predict" in wanted:
        outputs.append(
            {"name": "predict", "datatype": "BYTES", "shape": [n], "data": served.scored.labels}
        )
    if "predict_proba" in wanted:
        outputs.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [n, len(served.class_labels)],
                "parameters": {"class_labels": served.class_labels},
                "data": served.scored.proba.ravel().tolist(),
            }
        )
    if "prediction_id" in wanted:
        outputs.append(
            {
                "name": "prediction_id",
                "datatype": "BYTES",
                "shape": [n],
                "data": served.ids,
            }
        )
    body = {
        "model_name": served.target.model_name,
        "model_version": str(served.target.version),
        "outputs": outputs,
    }
    if request_id is not None:
        body["id"] = request_id
    if served.route.ab_test_id is not None:
        body["parameters"] = {"ab_test_id": served.route.ab_test_id, "arm": served.route.arm}
    return json_response(body)


def _requested_outputs(outputs) -> set[str]:
    if outputs is None:
        return set(OUTPUTS)
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise RequestError(
            "`outputs` must be a list of {name} objects.", reason="bad_request", field="outputs"
        )
    names = {o["name"] for o in outputs}
    unknown = sorted(names - set(OUTPUTS))
    if unknown:
        raise RequestError(
            f"Unknown output {unknown[0]!r}; this model gives {', '.join(OUTPUTS)}.",
            reason="bad_request",
            field="outputs",
        )
    return names
