"""The data hub's errors (each with its HTTP status, rendered as problem+json)."""

from __future__ import annotations

from typing import Any

from citybrain.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ResourceNotFound(NotFound):
    default_key = "datahub.resource_not_found"


class WrongStatus(Conflict):
    """The workflow does not allow this step from the resource's current status."""

    default_key = "datahub.wrong_status"


class NotProvider(Forbidden):
    default_key = "datahub.not_provider"


class NotBureau(Forbidden):
    default_key = "datahub.not_bureau"


class ImportRejected(ValidationFailed):
    """A file with invalid rows: nothing was written; the import record and its report are kept."""

    default_key = "datahub.import.rejected"

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__(self.default_key, keep_changes=True, extensions={"import": summary}, rows=summary["rows_rejected"])
