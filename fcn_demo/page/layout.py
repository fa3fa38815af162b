"""Building the page: the translated-label helper and the components by id.

Each tab module has a ``layout(ui)`` that builds its part of the page inside the tab app.py opens;
a view of the description (fcn_demo.page.views) is put where it belongs with :meth:`Layout.slot` or
:meth:`Layout.place`, and every other component an event names is kept with :meth:`Layout.add`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from fcn_demo.core.i18n import LOCALES, page_translations, text

I18N = gr.I18n(**page_translations())  # the browser's language picks one; English is the fallback
T = I18N
WEB = Path(__file__).resolve().parent / "web"  # the page's CSS, head and scripts


HEAD_WORDS = (
    "probe_photo",
    "slider",
    "number",
    "reset",
    "upload_drop",
    "file_upload",
    "undo",
    "more_tabs",
    "processing",
    "queue_busy",
    "file_too_big",
    "megabytes",
    "error",
)  # the gen.aria.* phrases the head's script sets


def head() -> str:
    """The page's <head> additions (web/head.html), its script's words in every language put in."""
    words = {loc: {k: text(loc, f"gen.aria.{k}") for k in HEAD_WORDS} for loc in LOCALES}
    return (
        (WEB / "head.html")
        .read_text()
        .replace("__WORDS__", json.dumps(words, ensure_ascii=False).replace("</", "<\\/"))
    )


class Layout:
    """The page's components by id, as the layout builds them."""

    def __init__(self, st) -> None:
        self.st = st
        self.views = st.views
        self.components: dict[str, Any] = {}

    def add(self, component_id: str, component):
        if component_id in self.components:
            raise ValueError(f"two components named {component_id!r}")
        self.components[component_id] = component
        return component

    def place(self, view_id: str):
        """Build view ``view_id`` here, showing its blank (in English: the page is built in English)."""
        v = self.views[view_id]
        value = v.blank(self.st, "en") if v.built_blank else None
        return self.add(view_id, v.make(view_id, value))

    def slot(self, name: str) -> list:
        """Build here every view of slot ``name``, in the description's order."""
        return [self.place(v.id) for v in self.views if v.slot == name]

    def __getitem__(self, component_id: str):
        return self.components[component_id]

    def all(self, ids) -> list:
        """The components of ``ids``, in that order."""
        return [self.components[i] for i in ids]

    def check(self) -> None:
        """Every view of the description was placed (a view without a slot is placed by hand)."""
        missing = [v.id for v in self.views if v.id not in self.components]
        if missing:
            raise ValueError(f"views not placed in the layout: {missing}")


def html(**kwargs):
    """A view's ``make`` for an HTML component (``kwargs``: gr.HTML's, e.g. elem_classes)."""

    def make(view_id: str, value):
        return gr.HTML(value, elem_id=view_id, **kwargs)

    return make
