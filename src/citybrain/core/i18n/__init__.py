"""Messages in zh-CN first and English second.

Catalogues are flat JSON files under ``locales/``, keyed by message id, with ``str.format`` fields.
Domains add their own catalogues with :func:`register_catalogue`, so ``core`` knows no domain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

SUPPORTED: Final = ("zh-CN", "en")
DEFAULT_LANGUAGE: Final = "zh-CN"

_catalogues: dict[str, dict[str, str]] = {lang: {} for lang in SUPPORTED}


def register_catalogue(directory: Path) -> None:
    """Load ``<lang>.json`` files from ``directory`` into the catalogues (later keys win)."""
    for lang in SUPPORTED:
        path = directory / f"{lang}.json"
        if path.exists():
            _catalogues[lang].update(json.loads(path.read_text(encoding="utf-8")))


register_catalogue(Path(__file__).parent / "locales")


def normalise(lang: str | None) -> str | None:
    """Map a language tag (``zh``, ``zh-Hans-CN``, ``en-GB``) to a supported one, or ``None``."""
    if not lang:
        return None
    tag = lang.strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Pick the best supported language from an ``Accept-Language`` header (RFC 9110 q-values)."""
    if not accept_language:
        return default
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        lang = normalise(pieces[0])
        if lang and quality > 0:
            weighted.append((-quality, index, lang))
    return sorted(weighted)[0][2] if weighted else default


def translate(key: str, lang: str, params: Mapping[str, Any] | None = None) -> str:
    """The message ``key`` in ``lang`` (falling back to zh-CN, then the key itself), formatted."""
    text = _catalogues.get(lang, {}).get(key) or _catalogues[DEFAULT_LANGUAGE].get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def has_key(key: str) -> bool:
    return key in _catalogues[DEFAULT_LANGUAGE]
