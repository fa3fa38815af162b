"""fcn-demo: FCN-32s / 16s / 8s and U-Net side by side on Oxford-IIIT Pet trimap classes.

Wiring only: layout, events (each with an api_name) and launch(). One request layer
(fcn_demo.request.analysis) does the work and fcn_demo.page.views draws it; on a ZeroGPU Space the model step
is the one ``@spaces.GPU`` call of a user action and every other view reads its returned data.

    python app.py            # http://127.0.0.1:7860 (port: $GRADIO_SERVER_PORT)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict
from types import SimpleNamespace

import gradio as gr

from fcn_demo.core import lineage
from fcn_demo.core.data import CLASSES, REPO_ROOT
from fcn_demo.core.hub import load_models
from fcn_demo.core.i18n import page_translations, switch_key
from fcn_demo.core.runtime import pick_device, release_memory_periodically
from fcn_demo.models import VARIANTS
from fcn_demo.page import exercise, lessons, views
from fcn_demo.page.handlers import QUEUE_SIZE, SESSIONS_KEPT, ZEROGPU, DemoState, friendly, localized
from fcn_demo.page.theme import theme
from fcn_demo.page.viz import iou_bars, replay_payload, training_curves

log = logging.getLogger("fcn-demo")
I18N = gr.I18n(**page_translations())  # the browser's language picks one; English is the fallback
T = I18N
WEB = REPO_ROOT / "fcn_demo" / "page" / "web"
SCROLL_TO_RESULTS = "() => { const el = document.getElementById('tabs'); if (el && el.getBoundingClientRect().top > innerHeight * 0.55) el.scrollIntoView({behavior: 'smooth', block: 'start'}); }"
PRESENT = "(on) => { document.documentElement.classList.toggle('present', on); return on; }"


def build_demo(st: DemoState) -> gr.Blocks:
    """The page around ``st``: layout here, handlers on DemoState."""
    with gr.Blocks(title="FCN demo: FCN-32s/16s/8s vs U-Net", analytics_enabled=False) as demo:
        # link, browser_lang: the query string of a shared link and navigator.language, from the page;
        # lang: the visitor's language, one of fcn_demo.core.i18n.LOCALES (a State, so no API parameter)
        ui = SimpleNamespace(state=gr.State(None), demo=demo, link=gr.Textbox(visible=False),
                             browser_lang=gr.Textbox(visible=False), lang=gr.State("en"))  # fmt: skip
        gr.Markdown(T("intro"), elem_id="intro")
        present = gr.Checkbox(False, label=T("present"), elem_id="present")
        present.change(None, present, None, js=PRESENT, api_visibility="private")
        _inputs_layout(st, ui)
        with gr.Tabs(elem_id="tabs") as ui.tabs:
            _tabs_layout(st, ui)
        gr.Markdown(T("attribution"), elem_id="attribution")
        _wire(st, ui)
    return demo


def _inputs_layout(st: DemoState, ui: SimpleNamespace) -> None:
    """The photo, the samples, the status line and the download."""
    with gr.Row(equal_height=False, elem_id="inputs"):
        with gr.Column(scale=2, min_width=280):
            ui.image_in = gr.Image(label=T("your_photo"), type="filepath", image_mode=None, height=280,
                                   sources=["upload", "webcam", "clipboard"], elem_id="image-in", buttons=[])  # fmt: skip
            ui.run_btn = gr.Button(T("segment"), variant="primary", elem_id="run")
            ui.trained_on = gr.HTML(views.trained_on(st.histories), elem_id="trained-on")
        with gr.Column(scale=3, min_width=280):
            gr.Markdown(T("samples_head"), elem_classes=["gallery-head"])
            ui.gallery = gr.Gallery(value=[(str(s.image), s.name.replace("_", " ")) for s in st.samples],
                                    label="Samples", show_label=False, columns=4, height="auto", allow_preview=False,
                                    object_fit="cover", elem_id="samples", buttons=[])  # fmt: skip
            ui.status = gr.HTML(views.status(None), elem_id="status")
            ui.download = gr.DownloadButton(T("download"), interactive=False, size="sm", elem_id="download")
            with gr.Row(elem_id="share-row"):
                ui.share_btn = gr.Button(T("share"), size="sm", elem_id="share", scale=0, min_width=200)
                ui.share_url = gr.Textbox(show_label=False, placeholder=T("share_placeholder"), interactive=False,
                                          buttons=["copy"], elem_id="share-url", scale=1,
                                          info=T("share_info"))  # fmt: skip
    with gr.Group(visible=False):  # the API endpoint's own components, not shown in the page
        ui.api_in, ui.api_masks, ui.api_json = (
            gr.Image(type="filepath", label="image"),
            gr.File(file_count="multiple"),
            gr.JSON(),
        )
        ui.api_btn = gr.Button()
        ui.api_x, ui.api_y, ui.api_probe_json, ui.probe_btn = (
            gr.Number(label="x"),
            gr.Number(label="y"),
            gr.JSON(),
            gr.Button(),
        )


def _tabs_layout(st: DemoState, ui: SimpleNamespace) -> None:
    with gr.Tab(T("tab_compare"), id="compare"):
        with gr.Row(elem_id="view-controls"):
            ui.opacity = gr.Slider(0, 1, value=0.55, step=0.05, label=T("opacity"), buttons=[], elem_id="opacity")
            modes = [(T(f"mode_{m.replace(' ', '_')}"), m) for m in views.VIEW_MODES]  # shown in words, sent as is
            ui.mode = gr.Radio(modes, value="overlay", label=T("show"), elem_id="mode", info=T("show_info"))
        ui.compare_notice = gr.HTML(elem_id="compare-notice")
        with gr.Row(equal_height=False, elem_id="panels"):
            ui.panels = [gr.HTML(views.panel(None, n), elem_classes=["panel"], elem_id=f"panel-{n}") for n in st.names]
            ui.truth = gr.HTML(lessons.ground_truth_panel(None), elem_classes=["panel"], elem_id="panel-truth")
            ui.disagree = gr.HTML(lessons.disagreement_panel(None), elem_classes=["panel"], elem_id="panel-disagree")
    with gr.Tab(T("tab_probe"), id="probe"):
        gr.Markdown(T("probe_text"))
        with gr.Row(equal_height=False):
            ui.probe_img = gr.Image(label=T("probe_photo"), interactive=False, format="jpeg", buttons=[],
                                    elem_id="probe-photo", scale=1, min_width=260)  # fmt: skip
            ui.probe_out = gr.HTML(views.probe_panels(None, None), elem_id="probe-out", scale=3)
    with gr.Tab(T("tab_maps"), id="maps"):
        gr.Markdown(T("maps_text"))
        with gr.Row():
            ui.cls_in = gr.Radio([(T(f"class_{c}"), i) for i, c in enumerate(CLASSES)], value=1, label=T("class"),
                                 elem_id="cls")  # fmt: skip
            ui.prob_in = gr.Radio([(T("maps_probability"), "probability"), (T("maps_raw"), "raw score")],
                                  value="probability", label=T("show"), elem_id="prob", info=T("maps_info"))  # fmt: skip
        ui.maps_out = gr.HTML(views.skip_maps(None, st.names, 1, True), elem_id="maps-out")
    with gr.Tab(T("tab_ablation"), id="ablation"):
        gr.Markdown(T("ablation_text"))
        with gr.Row(equal_height=False, elem_id="ablation-row"):
            ui.switches, ui.ablation_out = _ablation_layout(st)
        ui.ablation_out.append(gr.HTML(elem_id="ablate-notice"))
    with gr.Tab(T("tab_lessons"), id="lessons") as ui.lessons_tab:
        ui.lessons_out = gr.HTML(lessons.confidence_panels(None, st.names), elem_id="confidence-out")
        # Drawn on the tab's first visit (matplotlib is not imported at start-up), then reused.
        ui.upsampling = gr.HTML(elem_id="upsampling")
    with gr.Tab(T("tab_replay"), id="replay"):
        gr.Markdown(T("replay_text"))
        replay = replay_payload({n: (VARIANTS[n].title, st.loaded[n].folder) for n in st.names})
        gr.HTML(value="", html_template='<div class="replay"></div>', js_on_load=(WEB / "replay.js").read_text(),
                replay=replay, elem_id="replay")  # fmt: skip
    with gr.Tab(T("tab_exercise"), id="exercise"):
        gr.Markdown(T("exercise_text"))
        ui.editor = gr.ImageEditor(type="numpy", image_mode="RGBA", sources=(), transforms=(), layers=False,
                                   brush=gr.Brush(colors=exercise.BRUSH_HEX, color_mode="fixed", default_size=14),
                                   label=T("your_mask"), elem_id="editor", height=420)  # fmt: skip
        ui.grade_btn = gr.Button(T("grade"), variant="primary", elem_id="grade")
        ui.grade_out = gr.HTML(exercise.grade(None, None), elem_id="grade-out")
    with gr.Tab(T("tab_metrics"), id="metrics") as ui.metrics_tab:
        ui.charts = _metrics_layout(st, ui)
        ui.confusion_out = gr.HTML(lessons.confusion_tables(st.metrics), elem_id="confusion")


def _wire(st: DemoState, ui: SimpleNamespace) -> None:
    """Events: an input answers every view at once; a view setting redraws from the state alone."""
    controls = [ui.opacity, ui.mode, ui.cls_in, ui.prob_in, *ui.switches]
    outputs = [ui.state, ui.status, ui.download, *ui.panels, ui.truth, ui.disagree, ui.compare_notice, ui.maps_out,
               *ui.ablation_out, ui.editor, ui.grade_out, ui.lessons_out, ui.confusion_out, ui.probe_img,
               ui.probe_out]  # fmt: skip
    seg = {
        "preprocess": False,
        "concurrency_id": "models",
        "trigger_mode": "always_last",
        "api_visibility": "undocumented",
    }
    # A click only records the sample; the model step after it reads the latest record. (Gradio
    # re-runs a deferred "always_last" event with its FIRST trigger's event data, so with the
    # gallery's select data in the model step, three quick clicks showed the first sample.)
    chosen = gr.State(None)
    choose = {"queue": False, "show_progress": "hidden", "trigger_mode": "multiple", "api_visibility": "private"}
    # Every event that draws HTML takes the visitor's language last (a State: the API's parameters
    # stay as they were) and hands it to its handler as lang= (localized; friendly inside it, so a
    # refusal is said in that language too).
    picked = ui.gallery.select(st.choose, None, chosen, **choose).then(
        localized(friendly(st.pick)), [chosen, *controls, ui.lang], [ui.image_in, *outputs], api_name="pick", **seg
    )
    photo = gr.on([ui.image_in.upload, ui.run_btn.click], localized(friendly(st.upload)),
                  [ui.image_in, *controls, ui.lang], outputs, api_name="segment_photo", **seg)  # fmt: skip
    for ev in (picked, photo):
        ev.success(None, js=SCROLL_TO_RESULTS)
    view = {"show_progress": "hidden", "trigger_mode": "always_last", "api_visibility": "undocumented"}
    for name, fn, inputs, out in (
        ("panels", st.panels, [ui.opacity, ui.mode], ui.panels),
        ("maps", st.maps, [ui.cls_in, ui.prob_in], ui.maps_out),
        ("ablate", st.ablate, ui.switches, ui.ablation_out),
    ):
        gr.on([box.change for box in inputs], localized(fn), [ui.state, *inputs, ui.lang], out, api_name=name, **view)
    share_js = (WEB / "share.js").read_text().replace("__CLASSES__", json.dumps(list(CLASSES)))
    share_js = share_js.replace("__SWITCHES__", json.dumps([f"{n}-{p}" for n, p in st.skips]))
    ui.share_btn.click(None, controls, ui.share_url, js=share_js, api_visibility="private")
    st.outputs, st.controls = outputs, controls
    restored = [ui.image_in, *outputs, *controls, ui.tabs]
    # The page hands its query string and its language to hidden boxes, together, so a link's restore
    # sees the language; the language redraws, unqueued, what the server drew in English (st.localize).
    # The restore has its own queue lane: a plain visit's (empty) one never waits behind model steps,
    # and a class opening the teacher's link mostly hits the result cache.
    ui.demo.load(None, None, [ui.link, ui.browser_lang], js="() => [window.location.search, navigator.language]")
    # A link's visitor waiting for its sample sees their place in the queue over the status and panels.
    ui.link.change(localized(friendly(st.restore)), [ui.link, ui.browser_lang], restored, api_name="restore",
                   api_visibility="undocumented", concurrency_id="restore", concurrency_limit=4,
                   show_progress="full", show_progress_on=[ui.status, *ui.panels])  # fmt: skip
    blanks = [ui.status, *ui.panels, ui.truth, ui.disagree, ui.maps_out, *ui.ablation_out[:-1], ui.lessons_out,
              ui.grade_out, ui.probe_out, ui.confusion_out]  # fmt: skip
    st.blanks = ["status", *(f"panel-{n}" for n in st.names), "truth", "disagree", "maps",
                 *(f"ablate-{n}" for n in st.names if VARIANTS[n].skips), "ablate-ref", "lessons", "grade", "probe",
                 "confusion"]  # fmt: skip
    ui.browser_lang.change(localized(st.localize), [ui.state, ui.browser_lang],
                           [ui.lang, *blanks, ui.trained_on, ui.metrics_table, ui.provenance, ui.upsampling],
                           queue=False, show_progress="hidden", api_visibility="private")  # fmt: skip
    ui.probe_img.select(localized(friendly(st.probe)), [ui.state, ui.lang], ui.probe_out, api_name="probe_click",
                        api_visibility="private", concurrency_id="models", trigger_mode="always_last")  # fmt: skip
    ui.probe_btn.click(friendly(st.api_probe), [ui.api_in, ui.api_x, ui.api_y], ui.api_probe_json, api_name="probe",
                       preprocess=False, concurrency_id="models")  # fmt: skip
    ui.grade_btn.click(localized(st.grade), [ui.state, ui.editor, ui.lang], ui.grade_out, api_name="grade",
                       api_visibility="undocumented")  # fmt: skip
    ui.lessons_tab.select(localized(st.upsampling), ui.lang, ui.upsampling, api_visibility="private",
                          show_progress="minimal")  # fmt: skip
    ui.metrics_tab.select(
        lambda: ui.charts[2](), None, ui.charts[:2], api_visibility="private", show_progress="minimal"
    )
    ui.api_btn.click(friendly(st.api_segment), ui.api_in, [ui.api_masks, ui.api_json], api_name="segment",
                     preprocess=False, concurrency_id="models")  # fmt: skip


def _ablation_layout(st: DemoState) -> tuple[list[gr.Checkbox], list[gr.HTML]]:
    """One column per skip net (its switches, from the registry, over its mask), then the reference."""
    switches, outs = [], []
    for name in (n for n in st.names if VARIANTS[n].skips):
        with gr.Column(scale=2, min_width=260):
            with gr.Row():
                switches += [
                    gr.Checkbox(True, label=T(switch_key(name, p)), min_width=120, elem_id=f"skip-{name}-{p}")
                    for p in VARIANTS[name].skips
                ]
            outs.append(gr.HTML(views.ablation(None, name, ()), elem_classes=["panel"], elem_id=f"ablate-{name}"))
    with gr.Column(scale=1, min_width=220):
        outs.append(gr.HTML(views.reference(None, st.names[0]), elem_classes=["panel"], elem_id="ablate-ref"))
    return switches, outs


def _metrics_layout(st: DemoState, ui: SimpleNamespace) -> tuple:
    """The test-split table, where the weights came from, and the charts drawn on first visit."""
    metrics = st.metrics
    ui.metrics_table = gr.HTML(views.metrics_tables(metrics), elem_id="metrics-table")
    # Charts as inline pictures with alt text (gr.Image wraps its picture in an unnamed button).
    bars = gr.HTML(visible=bool(metrics), elem_id="iou-bars")
    curves = gr.HTML(visible=bool(st.histories), elem_id="curves")
    ui.provenance = gr.HTML(views.provenance(st.loaded, st.histories), elem_id="provenance")
    drawn = {}

    def draw():  # matplotlib is imported on first use, then the charts are reused
        if not drawn:
            # Earlier rounds first, as in the replay (fcn_demo.core.lineage).
            histories = {n: lineage.joined_history(st.loaded[n].folder, asdict(h)) for n, h in st.histories.items()}
            drawn["v"] = (
                views.img_tag(iou_bars(metrics), "Per-class IoU of each model on the test split", "png") if metrics else "",
                views.img_tag(training_curves(histories, {n: VARIANTS[n].title for n in st.names}),
                              "Training curves: loss and validation mIoU of each model, epoch by epoch", "png")
                if st.histories else "",
            )  # fmt: skip
        return drawn["v"]

    return bars, curves, draw


def launch_kwargs() -> dict:
    """Theme, CSS and server settings (Gradio 6 takes theme/css in launch())."""
    return {
        "theme": theme(),
        "i18n": I18N,
        "css": (WEB / "app.css").read_text(),
        "head": (WEB / "head.html").read_text(),
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ["GRADIO_SERVER_PORT"]) if os.environ.get("GRADIO_SERVER_PORT") else None,
        "max_file_size": "50mb",
        "allowed_paths": [str(REPO_ROOT / "samples")],  # the gallery's files, whatever the working directory
        "ssr_mode": False,
        "show_error": True,
        # Sessions (each holds a reference to its visitor's last analysis) kept, least recently used
        # evicted first; Gradio's default of 10,000 would hold hundreds of MiB on a long-running Space.
        "state_session_capacity": SESSIONS_KEPT,
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t0 = time.perf_counter()
    device = pick_device()  # chosen once, passed on explicitly
    release_memory_periodically()  # bounded RSS under varied uploads (see bench/load.py)
    st = DemoState(load_models(device=str(device)), device)
    demo = build_demo(st)
    demo.queue(default_concurrency_limit=2, max_size=QUEUE_SIZE)
    demo.launch(prevent_thread_lock=True, **launch_kwargs())
    log.info("serving %s models %.1f s after start-up began", len(st.analyzer.models), time.perf_counter() - t0)
    if not ZEROGPU and st.analyzer.models:  # on ZeroGPU the server process must not run a model
        st.analyzer.warmup()
    demo.block_thread()


if __name__ == "__main__":
    sys.exit(main())
