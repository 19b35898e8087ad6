"""The one DRF exception handler: every error answers JSON with a message that names the problem."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"error": exc.code, "detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if exc.details:
            body.update(exc.details)
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and set(data) == {"detail"}:
        data = {"error": getattr(data["detail"], "code", "error"), "detail": str(data["detail"])}
    elif response.status_code == status.HTTP_400_BAD_REQUEST:
        field, message = _first_error(data)
        data = {"error": "invalid", "detail": message, "fields": data}
        if field:
            data["field"] = field
    response.data = data
    return response


def _first_error(data, prefix: str = "") -> tuple[str, str]:
    """The first field at fault and a one-line message naming it, for clients that show one
    string. Nested fields are dotted (`instances.0.age`)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "non_field_errors":
                return _first_error(value, prefix)
            path = f"{prefix}.{key}" if prefix else str(key)
            field, message = _first_error(value, path)
            return field, message
    if isinstance(data, list) and data:
        if all(isinstance(item, str) for item in data):
            text = str(data[0])
            return prefix, f"{prefix}: {text}" if prefix else text
        for index, item in enumerate(data):
            if item:
                return _first_error(item, f"{prefix}.{index}" if prefix else str(index))
    return prefix, f"{prefix}: {data}" if prefix else str(data)
