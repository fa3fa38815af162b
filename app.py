"""fcn-demo: FCN-32s / 16s / 8s and U-Net side by side on Oxford-IIIT Pet trimap classes.

Wiring only: the page is built by its parts' layout functions (fcn_demo.page: the photo, then one
module per tab), the events are registered here (each with an api_name) and launch() serves it.
One request layer (fcn_demo.request.analysis) does the work; the views described in
fcn_demo.page.views draw it, and every positional list an event takes or returns is derived from
that description (fcn_demo.page.state). On a ZeroGPU Space the model step is the one
``@spaces.GPU`` call of a user action and every other view reads its returned data.

    python app.py            # http://127.0.0.1:7860 (port: $GRADIO_SERVER_PORT)
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time

import gradio as gr

from fcn_demo.core.data import CLASSES, REPO_ROOT
from fcn_demo.core.hub import load_models
from fcn_demo.core.i18n import locale
from fcn_demo.core.runtime import pick_device, release_memory_periodically
from fcn_demo.page import (
    ablation,
    compare,
    exercise,
    lesson,
    lessons,
    linked,
    maps,
    metrics,
    photo,
    probe,
    replay,
    slides,
)
from fcn_demo.page.guide import Guide
from fcn_demo.page.handlers import QUEUE_SIZE, SESSIONS_KEPT, TABS, ZEROGPU, DemoState, friendly, localized
from fcn_demo.page.layout import I18N, WEB, Layout, T, head
from fcn_demo.page.state import Settings
from fcn_demo.page.theme import theme

log = logging.getLogger("fcn-demo")
# Each tab's layout, in the page's order (TABS: the tabs' ids, which share links name).
LAYOUTS = dict(zip(TABS, (compare, probe, maps, ablation, lessons, replay, exercise, metrics), strict=True))
SCROLL_TO_RESULTS = "() => { const el = document.getElementById('tabs'); if (el && el.getBoundingClientRect().top > innerHeight * 0.55) el.scrollIntoView({behavior: 'smooth', block: 'start'}); }"
PRESENT = "(on) => { document.documentElement.classList.toggle('present', on); return on; }"
# The phone's Compare switcher: the chosen card shows, the others are marked data-off (app.css, "phone").
SHOW_PANEL = "(card) => { const row = document.getElementById('panels'); if (!row) return; row.dataset.show = card; for (const c of row.children) c.toggleAttribute('data-off', c.id !== 'panel-' + card); }"
# The page's own scripts (web/), loaded in its head: they listen for events on the whole document.
SCRIPTS = ("architecture.js",)
# The masks' zip, once the download event has made it: saved by the browser as its own name.
SAVE_FILE = "(f) => { if (!f || !f.url) return; const a = document.createElement('a'); a.href = f.url; a.download = f.orig_name || ''; document.body.appendChild(a); a.click(); a.remove(); }"


def build_demo(st: DemoState) -> gr.Blocks:
    """The page around ``st``: layout by the page's modules, handlers on DemoState."""
    with gr.Blocks(title="FCN demo: FCN-32s/16s/8s vs U-Net", analytics_enabled=False) as demo:
        ui = Layout(st)
        # link, browser-lang: the query string of a shared link and navigator.language, from the page;
        # lang: the visitor's language, one of fcn_demo.core.i18n.LOCALES (a State, so no API parameter)
        ui.add("link", gr.Textbox(visible=False))
        ui.add("browser-lang", gr.Textbox(visible=False))
        ui.add("lang", gr.State("en"))
        ui.slot("page")
        gr.Markdown(T("intro"), elem_id="intro")
        present = gr.Checkbox(False, label=T("present"), elem_id="present")
        present.change(None, present, None, js=PRESENT, api_visibility="private")
        photo.layout(ui)
        linked.layout(ui)
        # The guided lesson beside the tabs on a wide screen (sticky, so the question stays in view
        # while the panels scroll), above them on a phone and in presentation mode (CSS).
        with gr.Row(equal_height=False, elem_id="lesson-row"):
            with gr.Column(scale=1, min_width=300, elem_id="lesson-col"):
                lesson.layout(ui)
            with gr.Column(scale=3, min_width=300, elem_id="tabs-col"):
                # On a phone this list shows every tab as a button (CSS shows it below 641 px only, where
                # it replaces the tab bar) and opens the one picked.
                picker = ui.add("tab-picker", gr.Radio([(T(f"tab_{t}"), t) for t in TABS], value=TABS[0],
                                                       label=T("tab_picker"), elem_id="tab-picker"))  # fmt: skip
                # Tabs that do not fit wrap onto a second line (beside the lesson, and Russian labels at
                # any width) instead of hiding in Gradio's "More tabs" menu.
                with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:
                    ui.add("tabs", tabs)
                    for tab_id, part in LAYOUTS.items():
                        with gr.Tab(T(f"tab_{tab_id}"), id=tab_id) as tab:
                            ui.add(f"tab-{tab_id}", tab)
                            part.layout(ui)
                            if tab_id in slides.TABS:  # a teacher's export of the tab's view for slides
                                slides.layout(ui, tab_id)
        picker.change(lambda t: gr.Tabs(selected=t), picker, tabs, queue=False, show_progress="hidden",
                      api_visibility="private")  # fmt: skip
        for tab_id in LAYOUTS:  # a tab opened from the bar (or by a share link) shows in the list too
            ui[f"tab-{tab_id}"].select(lambda t=tab_id: t, None, picker, queue=False, show_progress="hidden",
                                       api_visibility="private")  # fmt: skip
        gr.Markdown(T("attribution"), elem_id="attribution")
        ui.check()
        _wire(st, ui, demo)
        _wire_lesson(st, ui, demo)
    return demo


def _wire(st: DemoState, ui: Layout, demo: gr.Blocks) -> None:
    """Events: an input answers every view at once; a view setting redraws from the state alone."""
    views, lang, state = st.views, ui["lang"], ui["state"]
    controls, outputs = ui.all(views.controls), ui.all(views.outputs)
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
    picked = (
        ui["samples"]
        .select(st.choose, None, chosen, **choose)
        .then(
            localized(friendly(st.pick)), [chosen, *controls, lang], [ui["image-in"], *outputs], api_name="pick", **seg
        )
    )
    photo_in = gr.on([ui["image-in"].upload, ui["run"].click], localized(friendly(st.upload)),
                     [ui["image-in"], *controls, lang], outputs, api_name="segment_photo", **seg)  # fmt: skip
    for ev in (picked, photo_in):
        ev.success(None, js=SCROLL_TO_RESULTS)
    view = {"show_progress": "hidden", "trigger_mode": "always_last", "api_visibility": "undocumented"}
    for name, (reads, ids) in views.redraws().items():  # panels, maps, ablate
        inputs = ui.all(Settings.control_ids(st.skips, reads))
        gr.on([box.change for box in inputs], localized(getattr(st, name)), [state, *inputs, lang], ui.all(ids),
              api_name=name, **view)  # fmt: skip
    ui["panel-picker"].change(None, ui["panel-picker"], None, js=SHOW_PANEL, api_visibility="private")
    share_js = (WEB / "share.js").read_text().replace("__CLASSES__", json.dumps(list(CLASSES)))
    share_js = share_js.replace("__SWITCHES__", json.dumps([f"{n}-{p}" for n, p in st.skips]))
    share_js = share_js.replace("__STEPS__", json.dumps([s.id for s in lesson.STEPS]))
    share_js = share_js.replace("__WHATIF__", json.dumps(lessons.WHATIF))
    ui["share"].click(None, controls, ui["share-url"], js=share_js, api_visibility="private")
    # The download is its own action: the files are made when it is asked for, then saved by the browser.
    ui["download"].click(friendly(st.download), state, ui["mask-zip"], api_visibility="private").success(
        None, ui["mask-zip"], None, js=SAVE_FILE
    )
    # Export for slides: the PNG is made when asked for, then saved by the browser (as the masks' zip).
    for name, inputs in (("slide_compare", ["opacity", "mode"]), ("slide_maps", ["slide-row", "cls", "prob"])):
        ui[name.replace("_", "-")].click(localized(friendly(getattr(st, name))), [state, *ui.all(inputs), lang],
                                         ui["slide-file"], api_visibility="private").success(
            None, ui["slide-file"], None, js=SAVE_FILE
        )  # fmt: skip
    # The page hands its query string and its language to hidden boxes, together, so a link's restore
    # sees the language; the language redraws, unqueued, what the server drew in English (st.localize).
    # The restore has its own queue lane: a plain visit's (empty) one never waits behind model steps,
    # and a class opening the teacher's link mostly hits the result cache.
    demo.load(None, None, [ui["link"], ui["browser-lang"]], js="() => [window.location.search, navigator.language]")
    # A link's visitor waiting for its sample sees their place in the queue over the status and panels.
    panels = [ui["status"], *ui.all(v.id for v in views if v.redraw == "panels")]
    ui["link"].change(localized(friendly(st.restore)), [ui["link"], ui["browser-lang"]], ui.all(views.restored),
                      api_name="restore", api_visibility="undocumented", concurrency_id="restore",
                      concurrency_limit=4, show_progress="full", show_progress_on=panels)  # fmt: skip
    # The language itself first, on its own (a handler that answers before the translation pass has
    # landed would otherwise speak English: seen when a learner checked an answer right after loading).
    ui["browser-lang"].change(locale, ui["browser-lang"], lang, queue=False, show_progress="hidden",
                              api_visibility="private")  # fmt: skip
    ui["browser-lang"].change(localized(st.localize), [state, ui["browser-lang"]], [lang, *ui.all(views.translated)],
                              queue=False, show_progress="hidden", api_visibility="private")  # fmt: skip
    # A pixel asked: a click on the probe's photo, or one chosen on any picture (linked views): the
    # answer and what the field what-if keeps of it; then the what-if, which its size also redraws.
    probed, size = ui.all(["probe-out", "reach-asked"]), ui["reach-size"]
    reach = (localized(friendly(st.reach)), [state, ui["reach-asked"], size, lang], ui["reach-out"])
    quiet = {"api_visibility": "private", "show_progress": "hidden", "trigger_mode": "always_last"}
    ui["probe-photo"].select(localized(friendly(st.probe)), [state, lang], probed, api_name="probe_click",
                             api_visibility="private", concurrency_id="models", trigger_mode="always_last",
                             ).success(*reach, **quiet)  # fmt: skip
    ui["probe-go"].click(localized(friendly(st.probe_at)), [state, ui["probe-at"], lang], probed, js=linked.ASK_JS,
                         api_name="probe_at", api_visibility="private", concurrency_id="models",
                         trigger_mode="always_last", show_progress="minimal").success(*reach, **quiet)  # fmt: skip
    size.release(*reach, api_name="reach", **quiet)
    ui["api-probe"].click(friendly(st.api_probe), [ui["api-in"], ui["api-x"], ui["api-y"]], ui["api-probe-json"],
                          api_name="probe", preprocess=False, concurrency_id="models")  # fmt: skip
    ui["grade"].click(localized(st.grade), [state, ui["editor"], lang], ui["grade-out"], api_name="grade",
                      api_visibility="undocumented")  # fmt: skip
    ui["tab-lessons"].select(localized(st.upsampling), lang, ui["upsampling"], api_visibility="private",
                             show_progress="minimal")  # fmt: skip
    sliders = ui.all(["whatif-kernel", "whatif-stride"])
    gr.on([ui["tab-lessons"].select, *(s.release for s in sliders)], localized(friendly(st.whatif)), [*sliders, lang],
          ui["whatif-out"], api_name="whatif", api_visibility="undocumented", show_progress="hidden",
          trigger_mode="always_last")  # fmt: skip
    ui["tab-metrics"].select(localized(metrics.charts(st)), lang, ui.all(["iou-bars", "curves"]),
                             api_visibility="private", show_progress="minimal")  # fmt: skip
    ui["api-segment"].click(friendly(st.api_segment), ui["api-in"], [ui["api-masks"], ui["api-json"]],
                            api_name="segment", preprocess=False, concurrency_id="models")  # fmt: skip


def _wire_lesson(st: DemoState, ui: Layout, demo: gr.Blocks) -> None:
    """The guided lesson. A step opens (its tab, its settings, the lesson's sample when the page shows no
    image yet) when the Walkthrough selects it: from its bar, back/next, the list of steps, a resumed
    or linked step. The first step opens from its own controls only: the page's first render selects
    it too, and must neither load a sample nor switch away from the tab a link names. A step's check
    (a learner) or reveal (a teacher) answers from the current image."""
    guide, lang, state = Guide(st), ui["lang"], ui["state"]
    quick = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    seg = {"concurrency_id": "models", "trigger_mode": "always_last", "api_visibility": "private"}
    first = [ui["image-in"], *ui.all(st.views.outputs)]
    controls, stored, picker = ui.all(st.views.controls), ui["lesson-progress"], ui["lesson-picker"]
    entered = ui.all(guide.entered())
    ensure = localized(friendly(guide.ensure))

    def go(trigger, to: int | None) -> None:  # to step `to` (None: the list's value)
        fn, source = (functools.partial(guide.go, to), []) if to is not None else (guide.go, [picker])
        event = trigger(fn, [*source, *controls, stored], entered, **quick)
        if not to:  # the first step opens here (or may, from the list)
            event.then(ensure, [state, *controls, lang], first, **seg)

    for i, s in enumerate(lesson.STEPS):
        if i:
            ui[f"lesson-{s.id}"].select(functools.partial(guide.enter, i), [*controls, stored], entered, **quick).then(
                ensure, [state, *controls, lang], first, **seg)  # fmt: skip
        for move, to in (("back", i - 1), ("next", i + 1)):
            if f"lesson-{move}-{s.id}" in ui.components:
                go(ui[f"lesson-{move}-{s.id}"].click, to)
        inputs, outputs = guide.checked(s)
        answer = {"concurrency_id": "models" if s.probe else "lesson", "api_visibility": "private"}
        for action, teacher in (("check", False), ("reveal", True)):
            click = ui[f"lesson-{action}-{s.id}"].click
            if not i:  # the page may show no image yet
                click = click(ensure, [state, *controls, lang], first, **seg).then
            answered = click(localized(friendly(guide.check(s, teacher))),
                             [state, ui[f"lesson-choice-{s.id}"], *ui.all(inputs), lang], ui.all(outputs), **answer)  # fmt: skip
            if s.whatif:  # the what-if redraws for the sliders the answer set
                answered.success(localized(friendly(st.whatif)), [*ui.all(["whatif-kernel", "whatif-stride"]), lang],
                                 ui["whatif-out"], **quick)  # fmt: skip
    go(picker.input, None)
    demo.load(guide.resume, [stored, ui["link"]], ui.all(guide.resumed()), js="(p) => [p, location.search]",
              **quick)  # fmt: skip


def launch_kwargs() -> dict:
    """Theme, CSS and server settings (Gradio 6 takes theme/css in launch())."""
    return {
        "theme": theme(),
        "i18n": I18N,
        "css": (WEB / "app.css").read_text(),
        "head": head() + linked.head() + "".join(f"<script>{(WEB / n).read_text()}</script>" for n in SCRIPTS),
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
