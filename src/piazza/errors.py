"""Domain errors. Services raise these; one handler in app.py renders them.

    PiazzaError
      ├── Invalid          400, bad input (carries the field when there is one)
      ├── Forbidden        403
      ├── NotFound         404
      ├── Conflict         409
      └── TooManyRequests  429

The `message` is the text a Gancio client shows verbatim, so services use Gancio's wording where
Gancio has one (`title required`, `Place not found`, ...).
"""

from __future__ import annotations


class PiazzaError(Exception):
    status: int = 400
    message: str = "Bad Request"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class Invalid(PiazzaError):
    status = 400
    message = "Bad Request"

    def __init__(self, message: str | None = None, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class Forbidden(PiazzaError):
    status = 403
    message = "Forbidden"


class NotFound(PiazzaError):
    status = 404
    message = "Not Found"


class Conflict(PiazzaError):
    status = 409
    message = "Conflict"


class TooManyRequests(PiazzaError):
    status = 429
    message = "Too many requests, please try again later."

    def __init__(self, message: str | None = None, retry_after: int = 60) -> None:
        self.retry_after = retry_after
        super().__init__(message)
