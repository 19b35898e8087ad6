"""OpenAPI entries for the prediction endpoints.

They are plain Django views (see inference/serving/http.py for why), which drf-spectacular does not
discover; this post-processing hook adds them so Swagger UI documents them with the rest.
"""

from __future__ import annotations

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "example": "wrong_type"},
        "detail": {"type": "string", "example": "Row 0: 'age' must be a number or null."},
        "field": {"type": "string", "example": "age"},
        "row": {"type": "integer", "example": 0},
    },
    "required": ["error", "detail"],
}
PREDICT_REQUEST = {
    "type": "object",
    "required": ["instances"],
    "properties": {
        "instances": {
            "type": "array",
            "minItems": 1,
            "description": "One object per row: every feature of the signature, null for a "
            "missing value, no other key.",
            "items": {"type": "object", "additionalProperties": True},
            "example": [{"age": 39, "workclass": "State-gov", "hours_per_week": 40}],
        },
        "unit_id": {
            "type": "string",
            "description": "The caller's user or entity id; stored hashed. A running A/B test "
            "serves the same unit from the same arm for its whole life; a request without one "
            "is its own unit.",
        },
        "version": {"type": "integer", "description": "A version number (default production)."},
        "stage": {"type": "string", "enum": ["candidate", "staging", "production", "archived"]},
        "request_id": {"type": "string", "maxLength": 100},
    },
}
PREDICT_RESPONSE = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "version": {"type": "integer"},
        "stage": {"type": "string"},
        "class_labels": {"type": "array", "items": {"type": "string"}},
        "predictions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "label": {"type": "string"},
                    "probabilities": {
                        "type": "object",
                        "additionalProperties": {"type": "number"},
                    },
                    "unknown_categories": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "ab_test": {
            "type": "object",
            "description": "Present when a running A/B test chose the version: the test and "
            "the arm (champion or challenger) that answered.",
            "properties": {"id": {"type": "integer"}, "arm": {"type": "string"}},
        },
    },
}
EXPLAIN_REQUEST = {
    "type": "object",
    "required": ["instances"],
    "properties": {
        key: PREDICT_REQUEST["properties"][key] for key in ("instances", "version", "stage")
    },
}
EXPLAIN_RESPONSE = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "version": {"type": "integer"},
        "stage": {"type": "string"},
        "class_labels": {"type": "array", "items": {"type": "string"}},
        "method": {
            "type": "string",
            "enum": ["tree-path-dependent", "linear-interventional", "deeplift-rescale"],
        },
        "output": {"type": "string", "description": "What `output` and the values measure."},
        "explanations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "probabilities": {
                        "type": "object",
                        "additionalProperties": {"type": "number"},
                    },
                    "explained_class": {"type": "string"},
                    "output": {
                        "type": "number",
                        "description": "The explained class's log-odds (binary) or logit.",
                    },
                    "base_value": {"type": "number"},
                    "contributions": {
                        "type": "object",
                        "description": "One SHAP value per input feature (one-hot columns "
                        "summed back into their feature); base_value plus their sum is output.",
                        "additionalProperties": {"type": "number"},
                    },
                },
            },
        },
    },
}
V2_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
V2_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string", "example": "FP64"},
        "parameters": {"type": "object"},
        "data": {"type": "array", "items": {}},
    },
}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def add_prediction_paths(result, generator, request, public):
    del generator, request, public
    errors = {
        "400": _json(ERROR, "A malformed request; the body names the row and field."),
        "401": _json(ERROR, "No or a bad token."),
        "404": _json(ERROR, "Unknown model or version."),
        "409": _json(ERROR, "The version failed its artifact checksums."),
    }
    result["paths"]["/api/v1/models/{name}/predict"] = {
        "post": {
            "operationId": "models_predict",
            "summary": "Predict rows with a model's production (or chosen) version",
            "tags": ["predict"],
            "parameters": [
                NAME,
                {"name": "version", "in": "query", "schema": {"type": "integer"}},
                {"name": "stage", "in": "query", "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PREDICT_REQUEST}},
            },
            "responses": {"200": _json(PREDICT_RESPONSE, "One answer per row."), **errors},
        }
    }
    result["paths"]["/api/v1/models/{name}/explain"] = {
        "post": {
            "operationId": "models_explain",
            "summary": "Explain rows: each prediction with its SHAP values per input feature",
            "tags": ["predict"],
            "parameters": [
                NAME,
                {"name": "version", "in": "query", "schema": {"type": "integer"}},
                {"name": "stage", "in": "query", "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EXPLAIN_REQUEST}},
            },
            "responses": {
                "200": _json(EXPLAIN_RESPONSE, "One explanation per row."),
                **errors,
                "409": _json(
                    ERROR, "The version failed its checksums or its reference sample is missing."
                ),
            },
        }
    }
    v2_errors = {
        "400": _json(V2_ERROR, "A malformed request."),
        "404": _json(V2_ERROR, "Unknown model or version."),
    }
    infer = {
        "post": {
            "operationId": "v2_model_infer",
            "summary": "V2 Open Inference Protocol inference",
            "tags": ["v2"],
            "parameters": [NAME],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["inputs"],
                            "properties": {
                                "id": {"type": "string"},
                                "parameters": {
                                    "type": "object",
                                    "example": {"content_type": "pd"},
                                },
                                "inputs": {"type": "array", "items": V2_TENSOR},
                                "outputs": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "model_name": {"type": "string"},
                            "model_version": {"type": "string"},
                            "id": {"type": "string"},
                            "outputs": {"type": "array", "items": V2_TENSOR},
                        },
                    },
                    "predict, predict_proba and prediction_id outputs.",
                ),
                **v2_errors,
            },
        }
    }
    metadata = {
        "get": {
            "operationId": "v2_model_metadata",
            "summary": "V2 model metadata (from the version's signature)",
            "tags": ["v2"],
            "parameters": [NAME],
            "responses": {"200": _json({"type": "object"}, "Model metadata."), **v2_errors},
        }
    }
    result["paths"]["/v2/models/{name}/infer"] = infer
    result["paths"]["/v2/models/{name}"] = metadata
    return result
