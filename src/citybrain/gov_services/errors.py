"""The government-services domain's errors (each with its HTTP status, rendered as problem+json)."""

from __future__ import annotations

from citybrain.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


class LicenceNotFound(NotFound):
    """No such licence, or not one the caller issued or holds (the two are not told apart, so
    licence ids cannot be probed)."""

    default_key = "gov.licence_not_found"


class LicenceAlreadyRevoked(Conflict):
    default_key = "gov.licence_already_revoked"


class NotIssuer(Forbidden):
    """Only the issuing department (or the data bureau) may revoke a licence, and a department
    issues only in its own name."""

    default_key = "gov.not_issuer"


class BadLicence(ValidationFailed):
    """The licence cannot be issued as asked (holder identifier, fields too large for a QR code)."""

    default_key = "gov.bad_licence"
