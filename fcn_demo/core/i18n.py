"""The page's words in English, Simplified Chinese and Russian (the languages this demo's own
source tutorials were written in), kept as data in ``locales/<locale>.json``, one key per string.

app.py hands the page's own keys to ``gr.I18n``, and the browser picks the language from its own
settings; model and metric names (FCN-8s, mIoU, pool4) stay as they are in every language.

The HTML the server generates per image (the tab modules of fcn_demo.page) takes a ``lang``
(one of :data:`LOCALES`; app.py maps the browser's ``navigator.language`` with :func:`locale`) and
reads its phrases from the same files, under keys starting with ``gen.``: whole sentences with
``str.format`` placeholders (``{model}``, ``{miou:.2f}``), so each language keeps its own word order.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections.abc import Iterable
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "locales"
LOCALES = ("en", "zh-CN", "ru")
GENERATED = "gen."  # the keys of the server's generated HTML (not handed to gr.I18n)
_CJK_GAP = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])")


@functools.cache
def translations() -> dict[str, dict[str, str]]:
    """locale -> key -> text; every locale has every key (checked by the tests)."""
    return {loc: json.loads((FOLDER / f"{loc}.json").read_text(encoding="utf-8")) for loc in LOCALES}


def english(key: str) -> str:
    return translations()["en"][key]


def page_translations() -> dict[str, dict[str, str]]:
    """What ``gr.I18n`` needs: the page's own keys, without the server's generated phrases, and one
    label per skip switch (``skip_<model>_<pool>``, from the registry and ``skip_switch``)."""
    from fcn_demo.models import VARIANTS

    out = {}
    for loc, t in translations().items():
        out[loc] = {k: v for k, v in t.items() if not k.startswith(GENERATED)}
        for name, v in VARIANTS.items():
            out[loc] |= {switch_key(name, p): t["skip_switch"].format(model=v.title, pool=p) for p in v.skips}
    return out


def switch_key(name: str, pool: str) -> str:
    """The page key of the label of model ``name``'s ``pool`` skip switch."""
    return f"skip_{name}_{pool}"


def locale(tag: str | None) -> str:
    """A browser language tag (``navigator.language``: "zh-TW", "ru-RU", "en-GB", "") as one of
    :data:`LOCALES`: Chinese of any script or region reads Simplified Chinese, anything else English."""
    tag = tag.strip().lower() if isinstance(tag, str) else ""  # the page's, or anything an API client sent
    return "zh-CN" if tag.startswith("zh") else "ru" if tag.startswith("ru") else "en"


def text(lang: str, key: str, **fmt) -> str:
    """The phrase ``key`` in ``lang`` (English when that language lacks it), formatted with ``fmt``."""
    en = translations()["en"]
    template = translations().get(lang, en).get(key, en[key])
    said = template.format(**fmt) if fmt else template
    # Chinese puts no space between characters: the spaces a template keeps around a placeholder
    # for a Latin name ("对 {image} 的") go when the name is Chinese too ("你的照片").
    return _CJK_GAP.sub("", said) if lang == "zh-CN" else said


def placeholders(template: str) -> set[str]:
    """A template's placeholders with their format specs ("{miou:.2f}" -> "miou:.2f")."""
    return {f"{name}:{spec}" if spec else name for _, name, spec, _ in string.Formatter().parse(template) if name}


def plural(lang: str, key: str, n: int) -> str:
    """The word of ``key`` ("model|models"; Russian: one|few|many) that goes with the number ``n``."""
    forms = text(lang, key).split("|")
    if lang == "ru" and len(forms) == 3:
        i = 0 if n % 10 == 1 and n % 100 != 11 else 1 if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else 2
    else:
        i = 0 if n == 1 else 1
    return forms[min(i, len(forms) - 1)]


def number(lang: str, n: int) -> str:
    """A count with its thousands grouped as the language writes them (12,345; Russian 12 345)."""
    return f"{n:,}".replace(",", "\u00a0") if lang == "ru" else f"{n:,}"


def join_and(lang: str, items: Iterable[str]) -> str:
    """Items as a list in words: "a", "a and b", "a, b and c" (Chinese: a、b 和 c)."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    comma = "、" if lang == "zh-CN" else ", "
    return text(lang, "gen.and", first=comma.join(items[:-1]), last=items[-1])


def listing(lang: str, items: Iterable[str], strong: bool = False) -> str:
    """Items one after another: "a, b" ("a; b" when ``strong``, for items with commas of their own);
    Chinese: a、b (a；b)."""
    if lang == "zh-CN":
        return ("；" if strong else "、").join(items)
    return ("; " if strong else ", ").join(items)


def sentences(lang: str, *parts: str) -> str:
    """Sentences one after another (Chinese puts no space between them); empty parts are left out."""
    return ("" if lang == "zh-CN" else " ").join(p for p in parts if p)


def class_name(lang: str, cls: int | str) -> str:
    """A class's name in ``lang`` (background, pet, border); an unknown one as it is."""
    from fcn_demo.core.data import CLASSES

    name = CLASSES[cls] if isinstance(cls, int) else cls
    key = f"{GENERATED}class.{name}"
    return text(lang, key) if key in translations()["en"] else name


class Message(str):
    """A phrase by its message id and values: it reads as its English text (the API's JSON and the
    logs get English), and :func:`say` writes it in any language, from the id, not from the English.

        notes.append(Message("gen.note.large", w=5000, h=4000, dw=1600, dh=1280))
    """

    key: str
    values: dict

    def __new__(cls, key: str, **values) -> Message:
        said = super().__new__(cls, text("en", key, **values))
        said.key, said.values = key, values
        return said

    def __reduce__(self):  # pickles as its id and values (a ZeroGPU worker sends notes back)
        return _message, (self.key, self.values)

    def text(self, lang: str) -> str:
        return text(lang, self.key, **self.values)


def _message(key: str, values: dict) -> Message:
    return Message(key, **values)


def say(lang: str, said: str) -> str:
    """``said`` in ``lang``: a :class:`Message` from its id and values; any other text as it is."""
    return said.text(lang) if isinstance(said, Message) else said
