from __future__ import annotations

import json
from pathlib import Path

import pytest

from citybrain.core.i18n import negotiate, normalise, translate

LOCALES = Path(__file__).resolve().parents[3] / "src" / "citybrain" / "core" / "i18n" / "locales"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("zh-Hans-CN", "zh-CN"),
        ("fr-FR, en;q=0.5, zh;q=0.8", "zh-CN"),
        ("fr-FR", "zh-CN"),
        ("en;q=0, zh;q=0.1", "zh-CN"),
        ("en;q=abc", "zh-CN"),
    ],
)
def test_negotiate_picks_the_best_supported_language(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_normalise() -> None:
    assert normalise("ZH-tw") == "zh-CN"
    assert normalise("en-US") == "en"
    assert normalise("de") is None


def test_translate_formats_and_falls_back() -> None:
    assert translate("auth.throttled", "en", {"seconds": 30}) == "Too many failed logins; try again in 30 seconds."
    assert translate("auth.throttled", "zh-CN", {"seconds": 30}) == "登录失败次数过多，请 30 秒后再试。"
    assert translate("no.such.key", "en") == "no.such.key"
    assert translate("auth.throttled", "en", {}) == "Too many failed logins; try again in {seconds} seconds."


def test_both_catalogues_have_the_same_keys_and_fields() -> None:
    zh = json.loads((LOCALES / "zh-CN.json").read_text(encoding="utf-8"))
    en = json.loads((LOCALES / "en.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en)
    import string

    for key in zh:
        fields_zh = {f for _, f, _, _ in string.Formatter().parse(zh[key]) if f}
        fields_en = {f for _, f, _, _ in string.Formatter().parse(en[key]) if f}
        assert fields_zh == fields_en, key


SRC = Path(__file__).resolve().parents[3] / "src" / "citybrain"


def _catalogue(language: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(SRC.glob(f"**/locales/{language}.json")):
        out.update(json.loads(path.read_text(encoding="utf-8")))
    return out


def test_every_domain_translates_the_same_keys_with_the_same_fields() -> None:
    import string

    zh, en = _catalogue("zh-CN"), _catalogue("en")
    assert set(zh) == set(en), sorted(set(zh) ^ set(en))
    for key in zh:
        fields_zh = {f for _, f, _, _ in string.Formatter().parse(zh[key]) if f}
        fields_en = {f for _, f, _, _ in string.Formatter().parse(en[key]) if f}
        assert fields_zh == fields_en, key


def test_every_key_a_template_names_is_translated() -> None:
    import re

    known = _catalogue("zh-CN")
    missing = []
    for template in sorted(SRC.glob("**/templates/**/*.html")):
        for key in re.findall(r"""_\(['"]([a-z0-9_.]+)['"]""", template.read_text(encoding="utf-8")):
            if not key.endswith((".", "_")) and key not in known:  # prefixes are completed at run time
                missing.append(f"{template.name}: {key}")
    assert not missing, missing
