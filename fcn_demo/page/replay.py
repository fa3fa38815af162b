"""The Training replay tab: every model's training, epoch by epoch, replayed in the browser from one
payload (fcn_demo.page.viz.replay_payload) without asking the server again.

Its script (web/replay.js) gets its phrases from the phrase files, in every language, with the
payload, and speaks the browser's language as the server's translation pass does (navigator.language).
It is not redrawn by the translation pass: Gradio builds a tab's components when the tab is first
opened, and an update sent to a component not yet built could reach it without its payload."""

from __future__ import annotations

import gradio as gr

from fcn_demo.core.i18n import LOCALES, text, translations
from fcn_demo.models import VARIANTS
from fcn_demo.page.layout import WEB, T
from fcn_demo.page.viz import replay_payload

PHRASES = "gen.replay."  # the replay's phrases: the script reads them without this prefix


def layout(ui) -> None:
    gr.Markdown(T("replay_text"))
    ui.slot("replay")


def words() -> dict[str, dict[str, str]]:
    """The replay's phrases in every language (``{"zh-CN": {"play": "▶ 播放", "epoch_of": "第 {epoch} 轮 / 共 {last} 轮"}}``):
    the script fills the placeholders."""
    keys = [k for k in translations()["en"] if k.startswith(PHRASES)]
    return {loc: {k.removeprefix(PHRASES): text(loc, k) for k in keys} for loc in LOCALES}


def maker(st):
    """The view's ``make``: the replay's component, holding every model's payload (built once)."""

    def make(view_id: str, value=None) -> gr.HTML:
        replay = replay_payload({n: (VARIANTS[n].title, st.loaded[n].folder) for n in st.names})
        return gr.HTML(value="", html_template='<div class="replay"></div>', js_on_load=(WEB / "replay.js").read_text(),
                       replay=replay, words=words(), elem_id=view_id)  # fmt: skip

    return make
