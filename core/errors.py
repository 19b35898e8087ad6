"""Domain errors raised by services and mapped to HTTP statuses in one place.

Pages catch them and show the message as a form error; the API exception handler turns them
into JSON bodies (`mlops_site.api_errors`).
"""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
