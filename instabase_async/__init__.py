"""instabase_async: the asyncio/trio client for Instabase.

Run thousands of flows, wait on every job, and move many large files, without writing
polling loops, retry code or thread pools. Start with `AsyncInstabase`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._client import AsyncInstabase
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InstabaseError,
    JobCancelledError,
    JobError,
    JobFailedError,
    LicenseError,
    NotFoundError,
    OperationError,
    PreconditionFailedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SubmissionUnknownError,
    WaitTimeoutError,
)
from ._jobs import Job
from ._ledger import Ledger
from ._models import (
    FileInfo,
    FlowRunRequest,
    HttpEndpoint,
    JobOutcome,
    JobState,
    JobStatus,
    PollPolicy,
    ProcessFilesSettings,
    Progress,
    RetryPolicy,
    RunOutcome,
    RunSettings,
    ServerRetry,
    Solution,
    SolutionJob,
    SolutionRunRequest,
    TransferOutcome,
    WebhookConfig,
)

try:
    __version__ = version("instabase-async")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncInstabase",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FileInfo",
    "FlowRunRequest",
    "HttpEndpoint",
    "InstabaseError",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobOutcome",
    "JobState",
    "JobStatus",
    "Ledger",
    "LicenseError",
    "NotFoundError",
    "OperationError",
    "PollPolicy",
    "PreconditionFailedError",
    "ProcessFilesSettings",
    "Progress",
    "RateLimitError",
    "ResponseValidationError",
    "RetryPolicy",
    "RunOutcome",
    "RunSettings",
    "ServerError",
    "ServerRetry",
    "Solution",
    "SolutionJob",
    "SolutionRunRequest",
    "SubmissionUnknownError",
    "TransferOutcome",
    "WaitTimeoutError",
    "WebhookConfig",
    "__version__",
]
