"""The top of the page: the photo (upload, webcam, clipboard), the samples, the status line, what
the models were trained on, the download and the share link; and the API's own hidden inputs."""

from __future__ import annotations

import gradio as gr

from fcn_demo.core.i18n import plural, say, text
from fcn_demo.page.html import escape
from fcn_demo.page.layout import T
from fcn_demo.page.parts import ms
from fcn_demo.request.analysis import Analysis


def layout(ui) -> None:
    st = ui.st
    with gr.Row(equal_height=False, elem_id="inputs"):
        with gr.Column(scale=2, min_width=280):
            ui.add("image-in", gr.Image(label=T("your_photo"), type="filepath", image_mode=None, height=280,
                                        sources=["upload", "webcam", "clipboard"], elem_id="image-in", buttons=[]))  # fmt: skip
            ui.add("run", gr.Button(T("segment"), variant="primary", elem_id="run"))
            ui.slot("photo")
        with gr.Column(scale=3, min_width=280):
            gr.Markdown(T("samples_head"), elem_classes=["gallery-head"])
            ui.add("samples", gr.Gallery(value=[(str(s.image), s.name.replace("_", " ")) for s in st.samples],
                                         label="Samples", show_label=False, columns=4, height="auto",
                                         allow_preview=False, object_fit="cover", elem_id="samples", buttons=[]))  # fmt: skip
            ui.slot("status")
            # The masks' zip, sent when the download asks for it (saved by the browser, never shown).
            ui.add("mask-zip", gr.File(visible="hidden", elem_id="mask-zip"))
            with gr.Row(elem_id="share-row"):
                ui.add("share", gr.Button(T("share"), size="sm", elem_id="share", scale=0, min_width=200))
                ui.add("share-url", gr.Textbox(label=T("share_url"), show_label=False, placeholder=T("share_placeholder"), interactive=False,
                                               buttons=["copy"], elem_id="share-url", scale=1, info=T("share_info")))  # fmt: skip
    with gr.Group(visible=False):  # the API endpoints' own components
        for name, component in (
            ("api-in", gr.Image(type="filepath", label="image")),
            ("api-masks", gr.File(file_count="multiple")),
            ("api-json", gr.JSON()),
            ("api-segment", gr.Button()),
            ("api-x", gr.Number(label="x")),
            ("api-y", gr.Number(label="y")),
            ("api-probe-json", gr.JSON()),
            ("api-probe", gr.Button()),
        ):
            ui.add(name, component)


def download(view_id: str, value=None) -> gr.DownloadButton:
    """The masks' download: active once an image is segmented; a click makes the files then."""
    return gr.DownloadButton(T("download"), interactive=False, size="sm", elem_id=view_id)


def status(a: Analysis | None, lang: str = "en", precomputed: bool = False) -> str:
    """The line under the input: what was segmented, how, and what to watch out for (``precomputed``:
    its pixel probes are precomputed, which the linked views' script reads from ``data-probes``)."""
    if a is None:
        return f'<div class="status muted">{escape(text(lang, "gen.status.empty"))}</div>'
    h, w = a.original_size
    if a.sample:
        what = text(lang, "gen.status.sample", name=f"<b>{escape(a.sample)}</b>")
    else:
        what = escape(text(lang, "gen.status.upload"))
    n = len(a.models)
    how = (
        text(lang, "gen.status.cached")
        if a.cached
        else text(lang, "gen.status.ran", n=n, models=plural(lang, "gen.n.models", n), ms=ms(lang, a.ms))
    )
    notes = [say(lang, n) for n in a.notes]
    if a.no_pet():
        notes.insert(0, text(lang, "gen.status.no_pet"))
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    line = text(lang, "gen.status.line", what=what, w=w, h=h, how=escape(how))
    return (
        f'<div class="status" data-image="{escape(a.label)}" data-sample="{escape(a.sample or "")}"'
        f' data-probes="{"grid" if precomputed else "live"}">'
        f"{line}{f'<ul class=notes>{items}</ul>' if items else ''}</div>"
    )


def trained_on(histories: dict, lang: str = "en") -> str:
    """What the models learned from, read from their own history.json (so it stays true when they
    are retrained), and what that means for a visitor's photo."""
    seen = [h.trained_on for h in histories.values() if getattr(h, "trained_on", None) is not None]
    if not seen:
        return f'<div class="trained-on muted">{escape(text(lang, "gen.trained.none"))}</div>'
    widest = max(seen, key=lambda t: (t.breeds, t.unlabelled_photos))
    said = text(lang, "gen.trained.line", head=f"<b>{escape(text(lang, 'gen.trained.head'))}</b>",
                sentence=escape(widest.sentence(lang)))  # fmt: skip
    return f'<div class="trained-on">{said}</div>'
