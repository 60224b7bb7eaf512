"""The one error hierarchy of the core. Drivers translate it once, at their edge."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class TesserraError(Exception):
    """A failure the caller can understand and act on.

    ``code`` is a stable machine-readable identifier; ``message`` is for humans. ``status`` is the
    HTTP status every driver answers it with (REST's response, the MCP endpoint's refusal): the one
    status-for-error table, a class attribute so that a subclass inherits its family's.
    """

    default_code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.retry_after = retry_after

    def details(self) -> dict[str, object]:
        """Fields a driver adds to the error body beside the message and code (none but for a few errors)."""
        return {}


class ValidationFailed(TesserraError):
    """The input is malformed (400)."""

    default_code = "validation_failed"
    status = 400


class Unprocessable(TesserraError):
    """The input is well formed but semantically unacceptable (422)."""

    default_code = "unprocessable"
    status = 422


class Unauthenticated(TesserraError):
    """No valid credentials (401)."""

    default_code = "unauthenticated"
    status = 401


class PaymentRequired(TesserraError):
    """The tenant's plan or subscription does not allow this (402)."""

    default_code = "payment_required"
    status = 402


class Forbidden(TesserraError):
    """Authenticated, but not allowed (403)."""

    default_code = "forbidden"
    status = 403


class NotFound(TesserraError):
    """No such object for this caller (404); also what another tenant's object looks like."""

    default_code = "not_found"
    status = 404


class Conflict(TesserraError):
    """The request conflicts with the current state (409)."""

    default_code = "conflict"
    status = 409


class PayloadTooLarge(TesserraError):
    """The request body is larger than this operation accepts (413)."""

    default_code = "payload_too_large"
    status = 413


class RateLimited(TesserraError):
    """Too many requests (429); ``retry_after`` says when to come back."""

    default_code = "rate_limited"
    status = 429


class Unavailable(TesserraError):
    """An external service this depends on is down (503)."""

    default_code = "unavailable"
    status = 503


class UpstreamFailed(TesserraError):
    """A service this server called on the caller's behalf answered with an error or nonsense (502)."""

    default_code = "upstream_failed"
    status = 502


class RemoteFailed(TesserraError):
    """A command on a remote host failed, or the host could not be reached (502); ``kind`` says how
    (exit_nonzero, signal, timeout, unreachable, auth_failed, host_key_mismatch, forward_refused) and is
    part of every driver's error body."""

    default_code = "remote_failed"
    status = 502

    def __init__(
        self, message: str, *, kind: str = "unreachable", run_id: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.kind = kind
        self.run_id = run_id

    def details(self) -> dict[str, object]:
        found: dict[str, object] = {"kind": self.kind}
        if self.run_id is not None:
            found["run_id"] = self.run_id
        return found


class SecretUnreadable(TesserraError):
    """A sealed secret does not open: wrong context, tampered, or sealed under a key this server lacks.

    Never shown to a client as such: a use case turns it into what the caller can act on.
    """

    default_code = "secret_unreadable"


def error_body(
    message: str, code: str, request_id: str | None, details: dict[str, object] | None = None
) -> dict[str, object]:
    """The one error body of every driver: both specs' fields, plus a machine code and the request id (and
    the error's own ``details``, e.g. a remote failure's ``kind``)."""
    body: dict[str, object] = {"detail": message, "success": False, "error": message, "code": code}
    body["request_id"] = request_id
    if details:
        body.update(details)
    return body


def found(value: T | None, message: str, *, code: str) -> T:
    """``value``, or NotFound(message, code) where it is None: how a use case says that what it looked
    up is not there (or is another tenant's, which looks the same)."""
    if value is None:
        raise NotFound(message, code=code)
    return value


def describe(exc: BaseException) -> str:
    """What a failure says in a log line or a stored status reason: a core error's own message, any other
    exception's type and text."""
    if isinstance(exc, TesserraError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
