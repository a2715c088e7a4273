"""One tree of domain errors, each carrying its HTTP status (STYLE rule 3).

Services raise these, never ``HTTPException``; one handler in ``core.web.problems`` renders them as
RFC 9457 ``application/problem+json`` in the caller's language. A message is a key into the locale
catalogues (``core/i18n/locales``) plus parameters, so the same error reads well in zh-CN and English.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field: ``loc`` is the path (``["body", "username"]`` or a row/column)."""

    loc: tuple[str | int, ...]
    key: str
    params: dict[str, Any] = field(default_factory=dict)


class CitybrainError(Exception):
    """Base of every error citybrain raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    default_key: ClassVar[str] = "error.internal"

    def __init__(
        self,
        key: str | None = None,
        /,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool = False,
        extensions: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.key = key or self.default_key
        #: commit the request's work before failing (a failed login must still be counted)
        self.keep_changes = keep_changes
        #: extra members of the problem document (RFC 9457 extensions), e.g. an import's summary
        self.extensions = extensions or {}
        self.params = params
        self.errors = errors or []
        self.headers = headers or {}
        super().__init__(self.key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, {self.params!r})"


class ConfigurationError(CitybrainError):
    status = 500
    code = "configuration"
    default_key = "error.configuration"


class BadRequest(CitybrainError):
    status = 400
    code = "bad-request"
    default_key = "error.bad_request"


class Unauthorized(CitybrainError):
    status = 401
    code = "unauthorized"
    default_key = "error.unauthorized"

    def __init__(self, key: str | None = None, /, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(key, **kwargs)


class Forbidden(CitybrainError):
    status = 403
    code = "forbidden"
    default_key = "error.forbidden"


class NotFound(CitybrainError):
    status = 404
    code = "not-found"
    default_key = "error.not_found"


class Conflict(CitybrainError):
    status = 409
    code = "conflict"
    default_key = "error.conflict"


class ValidationFailed(CitybrainError):
    status = 422
    code = "validation"
    default_key = "error.validation"


class TooManyRequests(CitybrainError):
    status = 429
    code = "too-many-requests"
    default_key = "error.too_many_requests"


class ServiceUnavailable(CitybrainError):
    status = 503
    code = "unavailable"
    default_key = "error.unavailable"
