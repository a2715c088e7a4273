"""A natural person's identity, kept only as a pseudonym.

A citizen account is tied to its holder's resident ID number (GB 11643) by the HMAC-SHA256 of the
number with the platform key: the database never holds the number, yet the audit log's entries
about that person (written under the same pseudonym) can be shown to them, and only to them.
"""

from __future__ import annotations

import hashlib
import hmac


def person_ref(secret: str, id_number: str) -> str:
    """The pseudonym of the person with this resident ID number (40 hex characters)."""
    return hmac.new(secret.encode(), f"person:{id_number.strip().upper()}".encode(), hashlib.sha256).hexdigest()[:40]


def is_resident_id(value: str) -> bool:
    """A valid resident ID number (GB 11643: region, birth date and check character)."""
    from stdnum.cn import ric

    try:
        ric.validate(value)
    except Exception:  # noqa: BLE001 - stdnum raises non-validation errors for unknown regions too
        return False
    return True
