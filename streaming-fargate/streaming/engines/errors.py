"""Engine failures, one exception type for every engine kind.

The pipeline catches :class:`EngineError` around a turn: ``retryable`` tells it whether trying the same
request again (after a back-off) can help (throttling, a 5xx) or not (a bad request, an unknown model).
"""

from __future__ import annotations


class EngineError(Exception):
    """An engine call failed.

    ``engine`` is the engine's ``name`` (``"bedrock"``, ``"polly"``, ...); ``code`` the provider's error
    code when there is one (e.g. ``"ThrottlingException"``); ``retryable`` whether the same request may
    succeed later.
    """

    def __init__(self, message: str, *, engine: str, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.engine = engine
        self.code = code
        self.retryable = retryable

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"{self.engine}{code}: {self.args[0]}"


# AWS error codes after which the same request can succeed later (compared case-insensitively: event
# stream exceptions arrive as ``throttlingException``, HTTP errors as ``ThrottlingException``).
RETRYABLE_AWS_CODES = frozenset(
    code.lower()
    for code in (
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalServerException",
        "InternalFailure",
        "InternalFailureException",
        "ModelNotReadyException",
        "ModelStreamErrorException",
        "ModelTimeoutException",
        "LimitExceededException",
        "ServiceFailureException",
        "RequestTimeout",
    )
)


def from_aws_error(engine: str, exc: BaseException) -> EngineError:
    """Wrap a botocore/amazon-transcribe exception; only the error code and message are kept (never
    request details, which may carry signed headers)."""
    code: str | None = None
    message = str(exc) or type(exc).__name__
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError / EventStreamError
        err = response.get("Error") or {}
        code = err.get("Code") or None
        message = err.get("Message") or message
    elif type(exc).__module__.startswith("amazon_transcribe"):  # ServiceException subclasses
        code = type(exc).__name__
        message = getattr(exc, "message", None) or message
    elif type(exc).__module__.startswith("awscrt"):  # AwsCrtError: network level, e.g. AWS_IO_SOCKET_TIMEOUT
        return EngineError(message, engine=engine, code=getattr(exc, "name", None), retryable=True)
    retryable = bool(code and code.lower() in RETRYABLE_AWS_CODES)
    if not code:  # connection resets, read timeouts: worth another try
        retryable = _is_connection_error(exc)
    return EngineError(message, engine=engine, code=code, retryable=retryable)


def _is_connection_error(exc: BaseException) -> bool:
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError
    except ImportError:  # pragma: no cover - botocore is always present in the service image
        return isinstance(exc, (ConnectionError, TimeoutError))
    return isinstance(exc, (BotoConnectionError, ReadTimeoutError, ConnectionError, TimeoutError))
