"""Word segmentation for catalogue search: jieba for Chinese, plain words for English.

No database here: :func:`terms` turns text into the set of terms stored for a resource and looked
up for a query, the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

_WORD = re.compile(r"[0-9a-z]+|[\u3400-\u9fff]+", re.IGNORECASE)
MAX_TERM = 64


@cache
def _jieba() -> Any:
    import jieba  # imported on first use: loading its dictionary takes a moment

    jieba.setLogLevel(logging.WARNING)
    return jieba


def terms(*texts: str | None) -> set[str]:
    """Search terms of ``texts``: jieba's search-mode words for Chinese (济南市 gives 济南, 济南市),
    lower-cased words and numbers for everything else."""
    out: set[str] = set()
    for text in texts:
        if not text:
            continue
        for chunk in _WORD.findall(text):
            if chunk.isascii():
                out.add(chunk.lower()[:MAX_TERM])
            else:
                out.update(w[:MAX_TERM] for w in _jieba().cut_for_search(chunk) if w.strip())
    return out


def query_terms(query: str) -> set[str]:
    """The terms a query must all match. A Chinese query is cut in precise mode, so 户籍人口 asks for
    户籍 and 人口 rather than every sub-word of them."""
    out: set[str] = set()
    for chunk in _WORD.findall(query or ""):
        if chunk.isascii():
            out.add(chunk.lower()[:MAX_TERM])
        else:
            out.update(w[:MAX_TERM] for w in _jieba().cut(chunk) if w.strip())
    return out


def all_terms(values: Iterable[str | None]) -> set[str]:
    return terms(*values)
