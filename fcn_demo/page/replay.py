"""The Training replay tab: every model's training, epoch by epoch, replayed in the browser from one
payload (fcn_demo.page.viz.replay_payload) without asking the server again.

The replay is a view (fcn_demo.page.views): its value is its phrases in the visitor's language, as
JSON; the script (web/replay.js) draws with them and draws again when the translation pass sends
them in another language (the page is built in English)."""

from __future__ import annotations

import json

import gradio as gr

from fcn_demo.core.i18n import text, translations
from fcn_demo.models import VARIANTS
from fcn_demo.page.layout import WEB, T
from fcn_demo.page.viz import replay_payload

PHRASES = "gen.replay."  # the replay's phrases: the script reads them without this prefix


def layout(ui) -> None:
    gr.Markdown(T("replay_text"))
    ui.slot("replay")


def words(lang: str = "en") -> str:
    """The replay's phrases in ``lang`` as JSON (``{"play": "▶ Play", "epoch_of": "Epoch {epoch} / {last}"}``):
    the script fills the placeholders."""
    keys = [k for k in translations()["en"] if k.startswith(PHRASES)]
    return json.dumps({k.removeprefix(PHRASES): text(lang, k) for k in keys}, ensure_ascii=False)


def maker(st):
    """The view's ``make``: the replay's component, holding every model's payload (built once)."""

    def make(view_id: str, value: str | None) -> gr.HTML:
        replay = replay_payload({n: (VARIANTS[n].title, st.loaded[n].folder) for n in st.names})
        return gr.HTML(value=value or words("en"), html_template='<div class="replay"></div>',
                       js_on_load=(WEB / "replay.js").read_text(), replay=replay, elem_id=view_id)  # fmt: skip

    return make
