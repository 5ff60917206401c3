"""The failures that stop a command, as typed errors: the input's, the state's and the API's.

Kept apart from the stages that raise them so that the command line can recognise them (and
map them to exit codes) without importing pandas or requests; the stages re-export them.
API errors also say which are worth retrying and which leave a write in doubt.
"""

from __future__ import annotations

from typing import ClassVar

# --- the input and the local state ------------------------------------------------------------


class ReadError(Exception):
    """The file cannot be read; the message names the file and what is wrong."""


class MappingError(Exception):
    """The columns cannot be mapped: a required field has no source, or a mapping is invalid."""


class CatalogError(ValueError):
    """The catalog file cannot be used; ``str(err)`` names the file and what is wrong."""


class SettingsError(Exception):
    """A settings file (`wedocod.toml`) cannot be used; the message names the file and the key."""


class LedgerError(Exception):
    """The ledger file cannot be used (newer schema, not a ledger, not writable)."""


class ConfigError(Exception):
    """The configuration cannot be used: the API's address, the token, the report's path.

    Raised before anything is sent; the message never repeats a secret.
    """


# --- the API -----------------------------------------------------------------------------------


class ApiError(Exception):
    """The API could not be used for this request.

    ``transient``: trying again later may work. ``in_doubt``: the request may have been
    committed by the server although we got no usable answer (a write must be looked up,
    never blindly sent again). ``fatal``: the API cannot be used as configured (token
    refused, answers sent elsewhere): the run stops instead of trying the next batch.
    """

    transient: ClassVar[bool] = False
    in_doubt: ClassVar[bool] = False
    fatal: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class AuthError(ApiError):
    """401, or 403 on create/update/read: the token is refused. Stop the run."""

    fatal = True


class Forbidden(ApiError):
    """403 on delete: the server refuses this action on these ids (an answer, not a stop)."""


class NotFound(ApiError):
    """404: no such lead (or route)."""


class ValidationFailed(ApiError):
    """422: the server named the fields it refuses; nothing in the request was applied."""

    def __init__(
        self, message: str, fields: dict[str, list[str]], *, status: int = 422, code: str = ""
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.fields = fields


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` is what the server asked us to wait, if it did."""

    transient = True

    def __init__(
        self, message: str, retry_after: float | None, *, status: int = 429, code: str = ""
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed after receiving the request; a write may have been committed."""

    transient = True
    in_doubt = True


class ConnectFailed(ApiError):
    """No connection could be made: nothing was sent, so sending again is safe."""

    transient = True


class ResponseLost(ApiError):
    """The request went out but no complete answer came back (timeout, reset, cut short)."""

    transient = True
    in_doubt = True


class BadResponse(ApiError):
    """An answer we cannot read (not JSON, not the documented shape, a listing that never ends)."""

    in_doubt = True


class Redirected(ApiError):
    """A redirect we do not follow: any redirect of a write, or a read sent to another origin.

    The base URL is wrong (or something between us and the API is): stop the run. A write
    answered with a redirect is treated as in doubt: it is looked up before it is sent again.
    """

    in_doubt = True
    fatal = True


class Interrupted(ApiError):
    """The run was asked to stop (Ctrl-C, SIGTERM): a wait was cut short or a request abandoned.

    An abandoned write may have been committed: it is in doubt.
    """

    transient = True
    in_doubt = True
