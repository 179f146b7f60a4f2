"""The exceptions of chathaul: one hierarchy rooted at :class:`Error`.

The Rust side raises these with the Rust error's message; the details it
knows (vendor, endpoint, page, JSON path, HTTP status, Retry-After, database,
file) are attributes. ``except chathaul.Error`` catches them all.

Which class each error kind raises is decided here and only here, in
:data:`ERROR_CLASSES`: the Rust side asks :func:`error_class` for it.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

__all__ = [
    "Error",
    "ConfigError",
    "AuthError",
    "RateLimitError",
    "DecodeError",
    "ApiError",
    "TransportError",
    "UnsupportedError",
    "IoError",
    "StoreError",
    "SinkError",
    "ClosedError",
    "InternalError",
    "ERROR_CLASSES",
    "error_class",
]


class Error(Exception):
    """Any chathaul failure.

    Attributes:
        message: the Rust error's text (also ``str(error)``).
        kind: the stable machine-readable kind (``auth``, ``rate_limit``,
            ``decode``, ``api``, ``paging``, ``transport``, ``config``,
            ``query``, ``unsupported``, ``io``, ``store``, ``sink``,
            ``internal``, ``closed``): the keys of :data:`ERROR_CLASSES`;
            ``other`` for an error raised without one.
        vendor: the connector the error is about, if any.
        endpoint, page: where it happened, when it applies.
        source: the sync source or planned source it is about, if any.
        partition: the partition whose pull failed (``vendor/account [since, until)``),
            from :func:`chathaul.pull_partition` and the Dask and Ray readers.
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
        self.partition: Optional[str] = details.pop("partition", None)
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        # Pickled whole (class, message and every attribute), so an error raised in a
        # worker process (Dask, Ray, multiprocessing) keeps its kind and details.
        return (_restore, (type(self), self.message, dict(self.__dict__)))


def _restore(cls: "type[Error]", message: str, state: Mapping[str, Any]) -> Error:
    error: Error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


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


class UnsupportedError(Error):
    """What was asked is not supported: by the vendor's API, or by this build of chathaul."""

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault("kind", "unsupported")
        super().__init__(message, **kw)


class IoError(Error, OSError):
    """A local file could not be read (a config file), or a thread not started."""

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault("kind", "io")
        super().__init__(message, **kw)


class StoreError(Error):
    """The database failed, or refused a file that is not a chathaul database.

    ``backend`` is the store (``sqlite``) and ``location`` the database's file
    (or its URL, without a password).
    """

    def __init__(
        self, message: str, *, backend: Optional[str] = None, location: Optional[str] = None, **kw: Any
    ) -> None:
        kw.setdefault("kind", "store")
        super().__init__(message, **kw)
        self.backend = backend
        self.location = location


class SinkError(Error):
    """An output failed: a file that cannot be written, a table that does not fit the schema.

    ``format`` is the output's format (``jsonl``, ``csv``, ``parquet``,
    ``arrow``) and ``path`` its file, if any.
    """

    def __init__(self, message: str, *, format: Optional[str] = None, path: Optional[str] = None, **kw: Any) -> None:
        kw.setdefault("kind", "sink")
        super().__init__(message, **kw)
        self.format = format
        self.path = path


class ClosedError(Error, ValueError):
    """Something was used after it was closed (a :class:`chathaul.Simulator`)."""

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault("kind", "closed")
        super().__init__(message, **kw)


class InternalError(Error, RuntimeError):
    """chathaul itself failed: a task that panicked, a database writer that stopped."""

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault("kind", "internal")
        super().__init__(message, **kw)


# Shown (and pickled) as chathaul.X, where users catch them.
for _cls in (
    Error,
    ConfigError,
    AuthError,
    RateLimitError,
    DecodeError,
    ApiError,
    TransportError,
    UnsupportedError,
    IoError,
    StoreError,
    SinkError,
    ClosedError,
    InternalError,
):
    _cls.__module__ = "chathaul"

#: The exception class of every error kind (``chathaul._native.error_kinds()``
#: lists the kinds the Rust side raises; a test checks each is here).
ERROR_CLASSES: Mapping[str, type[Error]] = {
    "auth": AuthError,
    "rate_limit": RateLimitError,
    "api": ApiError,
    "transport": TransportError,
    "decode": DecodeError,
    "paging": ApiError,
    "config": ConfigError,
    "query": ConfigError,
    "unsupported": UnsupportedError,
    "io": IoError,
    "store": StoreError,
    "sink": SinkError,
    "internal": InternalError,
    "closed": ClosedError,
}


def error_class(kind: Optional[str]) -> type[Error]:
    """The exception class for an error kind (as in a sync report's ``error_kind``).

    A kind this table does not know (from a newer native module) is a plain :class:`Error`.
    """
    return ERROR_CLASSES.get(kind or "", Error)
