"""The Training replay tab: every model's training, epoch by epoch, replayed in the browser from one
payload (fcn_demo.page.viz.replay_payload) without asking the server again."""

from __future__ import annotations

import gradio as gr

from fcn_demo.models import VARIANTS
from fcn_demo.page.layout import WEB, T
from fcn_demo.page.viz import replay_payload


def layout(ui) -> None:
    st = ui.st
    gr.Markdown(T("replay_text"))
    replay = replay_payload({n: (VARIANTS[n].title, st.loaded[n].folder) for n in st.names})
    gr.HTML(value="", html_template='<div class="replay"></div>', js_on_load=(WEB / "replay.js").read_text(),
            replay=replay, elem_id="replay")  # fmt: skip
