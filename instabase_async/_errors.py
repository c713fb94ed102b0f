"""Every exception the library raises on purpose.

```
InstabaseError
├── APIError                 .status_code .message .body .method .url (never the token)
│   ├── BadRequestError      400
│   ├── AuthenticationError  401  (bad token, or a permission you lack)
│   ├── LicenseError         403  (out of credits, product not licensed)
│   ├── NotFoundError        404
│   ├── ConflictError        409
│   ├── PreconditionFailedError 412 (file exists and overwrite=False)
│   ├── RateLimitError       429  .retry_after
│   ├── ServerError          5xx
│   └── OperationError       v1 API answered HTTP 200 with {"status": "ERROR", "msg": ...}
├── APIConnectionError       the request could not be completed (wraps the httpx error)
│   └── APITimeoutError
├── ResponseValidationError  a 2xx body that does not have the documented shape
├── SubmissionUnknownError   a ledger found a flow run that may or may not have been submitted
└── JobError                 .status (the last JobStatus seen)
    ├── JobFailedError
    ├── JobCancelledError
    └── WaitTimeoutError     also a TimeoutError
```

Bad arguments are plain `ValueError`/`TypeError`, raised before anything is sent.
Only `_http.py` maps responses to `APIError`s (through `error_for_status`), so the mapping
lives in one place. Messages carry the method and URL, never headers, so the token cannot leak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import JobStatus

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InstabaseError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "LicenseError",
    "NotFoundError",
    "OperationError",
    "PreconditionFailedError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "SubmissionUnknownError",
    "WaitTimeoutError",
    "error_for_status",
]


class InstabaseError(Exception):
    """The root of every error this library raises on purpose."""


class APIError(InstabaseError):
    """The server answered, and the answer was an error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        super().__init__(f"{status_code}: {message}{where}")


class BadRequestError(APIError):
    """400: the server rejected the request's arguments."""


class AuthenticationError(APIError):
    """401: an invalid token, or a call that needs a permission the token lacks."""


class LicenseError(APIError):
    """403: out of credits, or the product is not in the license."""


class NotFoundError(APIError):
    """404: no such file, solution, endpoint or job."""


class ConflictError(APIError):
    """409: the request conflicts with the current state on the server."""


class PreconditionFailedError(APIError):
    """412: a precondition failed, e.g. the file exists and `overwrite=False` was asked."""


class RateLimitError(APIError):
    """429: too many requests. `.retry_after` is the server's hint in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(APIError):
    """5xx: the server failed (after the retries the policy allowed)."""


class OperationError(APIError):
    """A v1 API answered HTTP 200 with `{"status": "ERROR", "msg": ...}`."""


class APIConnectionError(InstabaseError):
    """The request could not be completed: no answer, a reset connection, a protocol error.

    The httpx exception is the `__cause__`.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        super().__init__(f"{message}{where}")


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool)."""


class ResponseValidationError(InstabaseError):
    """A successful response whose body does not have the documented shape."""


class SubmissionUnknownError(InstabaseError):
    """A ledger found a flow run in `submitting`: the process stopped between sending the run and
    recording its answer, and a flow run has no id of the caller's to ask the server about.

    The run may be on the server or not. Look for it (its output folder, the flow's job list),
    then re-run with `run_many(..., resubmit_unknown=True)` to submit it again, or leave it.
    """


class BodyDecodingError(APIConnectionError, ResponseValidationError):
    """A body that cannot be decoded as its `Content-Encoding` says (a "gzip" body that is not):
    a failure of the transfer (`APIConnectionError`) of data the documents do not allow
    (`ResponseValidationError`), so either `except` catches it."""


class JobError(InstabaseError):
    """A waited job did not succeed. `.status` is the last `JobStatus` seen (None if none was)."""

    def __init__(self, message: str, status: JobStatus | None = None) -> None:
        self.status = status
        super().__init__(message)


class JobFailedError(JobError):
    """The job ended in `FAILED`."""


class JobCancelledError(JobError):
    """The job ended in `CANCELLED`."""


class WaitTimeoutError(JobError, TimeoutError):
    """The wait's `timeout` ran out before the job ended. The job itself is left alone."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: LicenseError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    429: RateLimitError,
}


def error_for_status(
    status_code: int,
    message: str,
    *,
    body: Any = None,
    method: str = "",
    url: str = "",
    retry_after: float | None = None,
) -> APIError:
    """Build the `APIError` subclass that matches an HTTP status code."""
    if status_code == 429:
        return RateLimitError(
            message, retry_after=retry_after, status_code=status_code, body=body, method=method, url=url
        )
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIError
    return cls(message, status_code=status_code, body=body, method=method, url=url)
