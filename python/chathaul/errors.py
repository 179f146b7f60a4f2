"""The exceptions of chathaul: one hierarchy rooted at :class:`Error`.

The Rust side raises these with the Rust error's message; the details it
knows (vendor, endpoint, page, JSON path, HTTP status, Retry-After) are
attributes. ``except chathaul.Error`` catches them all.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "Error",
    "ConfigError",
    "AuthError",
    "RateLimitError",
    "DecodeError",
    "ApiError",
    "TransportError",
    "error_class",
]


class Error(Exception):
    """Any chathaul failure.

    Attributes:
        message: the Rust error's text (also ``str(error)``).
        kind: the stable machine-readable kind (``auth``, ``rate_limit``,
            ``decode``, ``api``, ``paging``, ``transport``, ``config``,
            ``query``, ``unsupported``, ``io``, ``other``).
        vendor: the connector the error is about, if any.
        endpoint, page: where it happened, when it applies.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "other",
        vendor: Optional[str] = None,
        endpoint: Optional[str] = None,
        page: Optional[int] = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.vendor = vendor
        self.endpoint = endpoint
        self.page = page
        self.source: Optional[str] = details.pop("source", None)
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(Error, ValueError):
    """A config field is missing, invalid or unknown; an unknown vendor; an invalid query.

    ``field`` names the config field when there is one.
    """

    def __init__(self, message: str, *, field: Optional[str] = None, **kw: Any) -> None:
        kw.setdefault("kind", "config")
        super().__init__(message, **kw)
        self.field = field


class AuthError(Error):
    """The vendor refused the credentials (HTTP 401) or the permission (HTTP 403)."""

    def __init__(self, message: str, *, status: Optional[int] = None, **kw: Any) -> None:
        kw.setdefault("kind", "auth")
        super().__init__(message, **kw)
        self.status = status


class RateLimitError(Error):
    """The vendor answered 429 until the retries ran out.

    ``retry_after`` is the vendor's Retry-After in seconds (``None`` if it sent none).
    """

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        kw.setdefault("kind", "rate_limit")
        super().__init__(message, **kw)
        self.retry_after = retry_after


class DecodeError(Error):
    """A response was not the JSON the vendor documents.

    ``vendor``, ``endpoint``, ``page`` and ``path`` (the JSON path, e.g.
    ``chats[3].created_at``) say where.
    """

    def __init__(self, message: str, *, path: Optional[str] = None, **kw: Any) -> None:
        kw.setdefault("kind", "decode")
        super().__init__(message, **kw)
        self.path = path


class ApiError(Error):
    """The vendor answered with an error status or code, or its paging went wrong.

    ``status`` is the HTTP status and ``code`` the vendor's own error code, if any.
    """

    def __init__(
        self, message: str, *, status: Optional[int] = None, code: Optional[str] = None, **kw: Any
    ) -> None:
        kw.setdefault("kind", "api")
        super().__init__(message, **kw)
        self.status = status
        self.code = code


class TransportError(Error):
    """The request could not be sent or the answer not read (connection, timeout, truncated body)."""

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault("kind", "transport")
        super().__init__(message, **kw)


# Shown (and pickled) as chathaul.X, where users catch them.
for _cls in (Error, ConfigError, AuthError, RateLimitError, DecodeError, ApiError, TransportError):
    _cls.__module__ = "chathaul"

_BY_KIND = {
    "auth": AuthError,
    "rate_limit": RateLimitError,
    "decode": DecodeError,
    "api": ApiError,
    "paging": ApiError,
    "transport": TransportError,
    "config": ConfigError,
    "query": ConfigError,
}


def error_class(kind: Optional[str]) -> type[Error]:
    """The exception class for an error kind (as in a sync report's ``error_kind``)."""
    return _BY_KIND.get(kind or "", Error)
