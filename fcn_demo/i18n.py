"""The page's words in English, Simplified Chinese and Russian (the languages this demo's own
source tutorials were written in), kept as data in ``web/i18n/<locale>.json``, one key per string.

app.py hands them to ``gr.I18n``, and the browser picks the language from its own settings; model
and metric names (FCN-8s, mIoU, pool4) stay as they are in every language.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "web" / "i18n"
LOCALES = ("en", "zh-CN", "ru")


@functools.cache
def translations() -> dict[str, dict[str, str]]:
    """locale -> key -> text; every locale has every key (checked by the tests)."""
    return {loc: json.loads((FOLDER / f"{loc}.json").read_text(encoding="utf-8")) for loc in LOCALES}


def english(key: str) -> str:
    return translations()["en"][key]
