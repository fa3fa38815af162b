"""fcn-demo: FCN-32s / 16s / 8s and U-Net side by side on Oxford-IIIT Pet trimap classes.

Only the UI lives here: layout, events (with api_name) and launch(). Models run in
fcn_demo.pipeline, pictures come from fcn_demo.viz.

    python app.py            # http://127.0.0.1:7860 (port: $GRADIO_SERVER_PORT)
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from functools import wraps
from pathlib import Path

import gradio as gr
import numpy as np

from fcn_demo.data import CLASSES, REPO_ROOT
from fcn_demo.hub import load_models
from fcn_demo.models import VARIANTS, get_variant
from fcn_demo.pipeline import (
    InputError,
    PreparedImage,
    Segmenter,
    export_masks,
    image_metrics,
    load_input,
    match_ground_truth,
)
from fcn_demo.runtime import pick_device, release_memory_periodically
from fcn_demo.samples import list_samples
from fcn_demo.viz import (
    MODEL_COLORS,
    error_map,
    heatmaps,
    iou_bars,
    legend_html,
    overlay,
    replay_payload,
    training_curves,
)

try:  # On a ZeroGPU Space, functions that run the models borrow a GPU for the call.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn):
        return fn


log = logging.getLogger("fcn-demo")
WEB = REPO_ROOT / "fcn_demo" / "web"
CLASS_CHOICES = [(c, i) for i, c in enumerate(CLASSES)]
KEEP_IMAGES = 32  # recent images (and their exported masks) kept for re-rendering and downloads
SESSIONS_KEPT = int(os.environ.get("FCN_DEMO_SESSIONS", "200"))  # visitor sessions kept in memory (launch_kwargs)
ABLATION = {"fcn16s": ("pool4",), "fcn8s": ("pool4", "pool3")}  # the skips a user can switch off

INTRO = """
# Fully Convolutional Networks, live
Four networks label every pixel of a pet photo as **background**, **pet** or **border** (the thin
"not sure" band the Oxford-IIIT Pet annotators drew around each animal). **FCN-32s** predicts on a
grid 32x coarser than the image; **FCN-16s** and **FCN-8s** add finer *skip* layers
([Long, Shelhamer & Darrell, CVPR 2015](https://arxiv.org/abs/1411.4038)); **U-Net** decodes step by
step back to full resolution ([Ronneberger et al., 2015](https://arxiv.org/abs/1505.04597)).
Pick a sample (these have ground truth, so you get scores and error maps) or upload your own photo.
"""


def _stats_html(title: str, ms: float | None, metrics: dict | None, source: str, extra: str = "") -> str:
    lat = f'<span class="stat"><span class="k">latency</span> <b>{ms:.0f} ms</b></span>' if ms is not None else ""
    if metrics:
        scores = "".join(
            f'<span class="stat"><span class="k">{k}</span> <b>{metrics[v]:.3f}</b></span>'
            for k, v in (("pixel acc", "pixel_acc"), ("mIoU", "miou"), ("border IoU", "border_iou"))
        )
    else:
        scores = '<span class="stat muted">no ground truth for uploads: scores appear for samples</span>'
    return (
        f'<div class="panel-stats">{lat}{scores}{extra}</div>{legend_html(errors=bool(metrics))}'
        f'<div class="panel-source" title="where the weights came from">weights: {source}</div>'
    )


def _friendly(fn):
    """Turn pipeline errors into messages in the page; log (never show) unexpected tracebacks."""

    @wraps(fn)
    def inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            raise gr.Error(str(e), title="Can't use this image", print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(
                "Something went wrong on our side while processing this image. Please try again or use another image.",
                title="Internal error",
                print_exception=False,
            ) from None

    return inner


def _payload_source(payload) -> str | bytes | None:
    """The uploaded file behind an unprocessed gr.Image payload (a path, or bytes from a data URL)."""
    if payload is None:
        return None
    if isinstance(payload, (str, Path)):
        return str(payload)
    path, url = payload.get("path"), payload.get("url") or ""
    if path:
        return path
    if url.startswith("data:"):
        try:
            return base64.b64decode(url.split(",", 1)[1])
        except (IndexError, binascii.Error):
            raise InputError("The image data is damaged. Upload the photo again.") from None
    return None


class DemoState:
    """What the handlers share: the models, the segmenter, recent images and their ground truth."""

    def __init__(self, loaded: dict, device) -> None:
        self.loaded = loaded
        self.names = [n for n in VARIANTS if n in loaded]
        self.available = [n for n in self.names if loaded[n].model is not None]
        self.segmenter = Segmenter({n: loaded[n].model for n in self.available}, device)
        self.images: dict[str, tuple[PreparedImage, np.ndarray | None, str | None]] = {}
        self.lock = threading.Lock()
        self.out_dir = Path(tempfile.mkdtemp(prefix="fcn-demo-"))

    def prepare(self, source) -> tuple[PreparedImage, np.ndarray | None, str | None]:
        """Validate the input once and remember it (with its ground truth if it is a sample)."""
        image = load_input(source)
        entry = (image, *match_ground_truth(image))
        with self.lock:
            self.images[image.digest] = entry
            while len(self.images) > KEEP_IMAGES:
                stale = next(iter(self.images))
                self.images.pop(stale)
                shutil.rmtree(self.out_dir / stale, ignore_errors=True)
        return entry

    def recall(self, digest: str | None):
        with self.lock:
            hit = self.images.get(digest) if digest else None
        if hit is None:
            raise gr.Error("Pick a sample or upload a photo first.", title="No image yet", print_exception=False)
        return hit

    def masks(self, image: PreparedImage, results: dict, stem: str) -> list[str]:
        """Paths of the full-size mask PNGs, then of their zip."""
        return [str(p) for p in export_masks(image, results, self.out_dir / image.digest, stem)]


def build_demo(st: DemoState) -> gr.Blocks:
    """The whole UI around the models in ``st``."""
    loaded = st.loaded
    samples = list_samples()
    titles = {n: get_variant(n).title for n in st.names}

    # ------------------------------------------------------------------ handlers (no torch here)

    def render_one(name, image, gt, results, opacity, mask_only, errors):
        r = results.get(name)
        if r is None:
            return None
        if errors and gt is not None:
            return error_map(image.rgb, r.mask, gt)
        return overlay(image.rgb, r.mask, opacity, mask_only)

    @gpu
    def _segment(source):
        image, gt, sample = st.prepare(source)
        t0 = time.perf_counter()
        results = st.segmenter.segment(image, st.available)
        return image, gt, sample, results, (time.perf_counter() - t0) * 1000

    def cleared(message: str, title: str = "Can't use this image") -> list:
        """Outputs for a refused input: empty panels and the reason, in the page and as a toast."""
        gr.Warning(message, title=title)
        outs = []
        for name in st.names:
            outs += [
                None,
                _stats_html(titles[name], None, None, loaded[name].source),
                gr.update(value=False, interactive=False),
            ]
        status = f'<div class="status status-error"><b>{html.escape(title)}.</b> {html.escape(message)}</div>'
        return [*outs, status, gr.update(value=None, interactive=False), None]

    @_friendly
    def on_segment(payload, *controls):
        if not st.available:
            reason = "; ".join(f"{titles[n]}: {loaded[n].error}" for n in st.names)
            return cleared(f"No model weights could be loaded ({reason}).", "The models are unavailable")
        try:
            image, gt, sample, results, total_ms = _segment(_payload_source(payload))
        except InputError as e:
            return cleared(str(e))
        zpath = st.masks(image, results, sample or "image")[-1]
        outs = []
        for i, name in enumerate(st.names):
            opacity, mask_only, errors = controls[3 * i : 3 * i + 3]
            r = results.get(name)
            if r is None:
                outs += [None, f'<div class="panel-missing">{titles[name]} is unavailable: {loaded[name].error}</div>']
                outs.append(gr.update(value=False, interactive=False))
                continue
            metrics = image_metrics(r.mask, gt) if gt is not None else None
            outs.append(render_one(name, image, gt, results, opacity, mask_only, errors and gt is not None))
            outs.append(_stats_html(titles[name], r.ms, metrics, loaded[name].source))
            outs.append(gr.update(interactive=gt is not None, value=bool(errors and gt is not None)))
        h, w = image.original_size
        what = f"sample <b>{sample}</b> (test split, with ground truth)" if sample else "your image (no ground truth)"
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in image.notes)
        status = (
            f'<div class="status">Segmented {what} · {w}x{h} px · {len(results)} models in {total_ms:.0f} ms'
            f"{f'<ul class=notes>{notes}</ul>' if notes else ''}</div>"
        )
        for n in image.notes:
            gr.Info(n)
        state = {"digest": image.digest}
        return [*outs, status, gr.update(value=zpath, interactive=True), state]

    @_friendly
    def on_render(state, name, opacity, mask_only, errors):
        if not state or name not in st.available:
            return None
        image, gt, _ = st.recall(state.get("digest"))
        results = st.segmenter.segment(image, [name])
        return render_one(name, image, gt, results, opacity, mask_only, errors)

    @_friendly
    def on_maps(state, cls, view):
        if not state:
            return [None] * len(st.names)
        image, _, _ = st.recall(state.get("digest"))
        results = st.segmenter.segment(image, st.available)
        figs = []
        for name in st.names:
            r = results.get(name)
            if r is None:
                figs.append(None)
                continue
            maps = [(key, caption, r.maps[key]) for key, caption in get_variant(name).maps if key in r.maps]
            figs.append(heatmaps(image.rgb, maps, r.work_size, int(cls), view == "probability", titles[name]))
        return figs

    @gpu
    def _ablate(image, drops):
        return st.segmenter.segment(image, [n for n in ABLATION if n in st.available], drop_skips=drops)

    @_friendly
    def on_ablate(state, use16_pool4, use8_pool4, use8_pool3):
        if not state:
            return [None, "", None, "", None]
        image, gt, _ = st.recall(state.get("digest"))
        drops = {
            "fcn16s": tuple(p for p, on in (("pool4", use16_pool4),) if not on),
            "fcn8s": tuple(p for p, on in (("pool4", use8_pool4), ("pool3", use8_pool3)) if not on),
        }
        ablated = _ablate(image, drops)
        full = st.segmenter.segment(image, list(ablated))
        outs = []
        for name in ABLATION:
            r = ablated.get(name)
            if r is None:
                outs += [None, f"{titles.get(name, name)} is unavailable"]
                continue
            changed = float((r.mask != full[name].mask).mean())
            dropped = ", ".join(drops[name]) or "nothing"
            line = f"removed: <b>{dropped}</b> · {changed:.1%} of pixels changed vs the full model"
            if gt is not None:
                m, m0 = image_metrics(r.mask, gt), image_metrics(full[name].mask, gt)
                line += f" · mIoU <b>{m['miou']:.3f}</b> (full model {m0['miou']:.3f}, Δ {m['miou'] - m0['miou']:+.3f})"
            line += f" · forward {r.ms:.0f} ms"
            outs += [overlay(image.rgb, r.mask, 0.55), f'<div class="ablate-stats">{line}</div>']
        ref = st.segmenter.segment(image, ["fcn32s"])["fcn32s"] if "fcn32s" in st.available else None
        outs.append(overlay(image.rgb, ref.mask, 0.55) if ref else None)
        return outs

    @gpu
    def _api_segment(source):
        image, gt, sample = st.prepare(source)
        return image, gt, sample, st.segmenter.segment(image, st.available)

    @_friendly
    def api_segment(image):
        """Segment one image with every model. Returns the masks (palette PNGs at the image's size,
        pixel value = class index: 0 background, 1 pet, 2 border) and a JSON summary with latencies,
        for sample images pixel accuracy, mIoU and border IoU, and why any model is unavailable."""
        if not st.available:  # an empty answer would look like success
            reason = "; ".join(f"{titles[n]}: {loaded[n].error}" for n in st.names)
            title = "The models are unavailable"
            raise gr.Error(f"No model weights could be loaded ({reason}).", title=title, print_exception=False)
        image, gt, sample, results = _api_segment(_payload_source(image))
        paths = st.masks(image, results, sample or "image")[:-1]
        h, w = image.original_size
        summary = {
            "image": {"width": w, "height": h, "sample": sample, "notes": image.notes},
            "classes": list(CLASSES),
            "models": {},
            "unavailable": {n: loaded[n].error for n in st.names if n not in st.available},
        }
        for (name, r), path in zip(results.items(), paths):
            summary["models"][name] = {
                "title": r.title,
                "mask": Path(path).name,
                "latency_ms": round(r.ms, 1),
                "class_fractions": [round(c, 4) for c in r.class_fractions()],
                "metrics": image_metrics(r.mask, gt) if gt is not None else None,
                "weights": loaded[name].source,
            }
        return paths, summary

    def on_pick(evt: gr.SelectData):
        return str(samples[evt.index].image)

    # ------------------------------------------------------------------ static content

    folders = {n: (titles[n], loaded[n].folder) for n in st.names}
    replay = replay_payload(folders)
    metrics = _read_metrics(loaded)
    histories = {
        n: json.loads((f / "history.json").read_text())
        for n, (_, f) in folders.items()
        if f is not None and (Path(f) / "history.json").exists()
    }

    @functools.cache
    def charts():
        return (iou_bars(metrics) if metrics else None, training_curves(histories, titles) if histories else None)

    # ------------------------------------------------------------------ layout

    with gr.Blocks(
        title="FCN demo: FCN-32s/16s/8s vs U-Net", analytics_enabled=False, delete_cache=(3600, 7200)
    ) as demo:
        state = gr.State(None)
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                image_in = gr.Image(
                    label="Your photo",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard", "webcam"],
                    height=280,
                    elem_id="image-in",
                    buttons=[],
                )
                run_btn = gr.Button("Segment", variant="primary", elem_id="run")
            with gr.Column(scale=3, min_width=300):
                gr.HTML(
                    '<div class="gallery-head"><b>Samples</b> from the test split, with ground truth: click one</div>'
                )
                gallery = gr.Gallery(
                    value=[(str(s.image), s.breed) for s in samples],
                    show_label=False,
                    columns=6,
                    rows=2,
                    height=236,
                    allow_preview=False,
                    object_fit="cover",
                    elem_id="samples",
                    buttons=[],
                )
                status = gr.HTML('<div class="status muted">Pick a sample or upload a photo.</div>', elem_id="status")
                download = gr.DownloadButton(
                    "Download masks (PNG, zip)", value=None, interactive=False, size="sm", elem_id="download"
                )

        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Compare the models", id="compare"):
                panels, controls, stats, err_boxes = {}, [], {}, {}
                with gr.Row(equal_height=False, elem_id="panels"):
                    for name in st.names:
                        with gr.Column(min_width=220, elem_classes=["panel"], elem_id=f"panel-{name}"):
                            gr.HTML(
                                f'<div class="panel-title"><i style="background:{MODEL_COLORS.get(name, "#444")}"></i>'
                                f"{titles[name]}</div>"
                            )
                            panels[name] = gr.Image(
                                show_label=False,
                                interactive=False,
                                # Photos with a mask on top: JPEG is ~100x faster to encode than PNG and
                                # ~6x smaller to send (the downloadable masks stay lossless PNG).
                                format="jpeg",
                                elem_classes=["panel-image"],
                                buttons=["download", "fullscreen"],
                                placeholder="mask appears here",
                            )
                            with gr.Group(elem_classes=["panel-controls"]):
                                op = gr.Slider(0, 1, value=0.55, step=0.05, label="overlay opacity", buttons=[])
                                with gr.Row():
                                    mo = gr.Checkbox(False, label="mask only", min_width=80)
                                    er = gr.Checkbox(False, label="error map", interactive=False, min_width=80)
                            stats[name] = gr.HTML(_stats_html(titles[name], None, None, loaded[name].source))
                            err_boxes[name] = er
                            controls += [op, mo, er]
                            name_box = gr.State(name)
                            for ev in (op.release, mo.input, er.input):
                                ev(
                                    on_render,
                                    [state, name_box, op, mo, er],
                                    panels[name],
                                    show_progress="hidden",
                                    api_visibility="undocumented",
                                    concurrency_limit=4,
                                )

            with gr.Tab("Skip-layer maps", id="maps"):
                gr.Markdown(
                    "What each stage of a network predicts, read straight from its `forward()` outputs and drawn at "
                    "the stage's own resolution (one coloured square = one output cell; nothing is smoothed). "
                    "FCN-32s sees the image through a 32x32-pixel grid; FCN-16s and FCN-8s **add** corrections from "
                    "pool4 and pool3 (red: more of the class, blue: less). U-Net's decoder refines stride by stride."
                )
                with gr.Row():
                    cls_in = gr.Radio(CLASS_CHOICES, value=1, label="class", scale=1)
                    view_in = gr.Radio(
                        ["probability", "raw score"],
                        value="probability",
                        label="show",
                        info="contributions are always raw scores: they are added before the softmax",
                        scale=2,
                    )
                maps_out = [
                    gr.Image(show_label=False, interactive=False, format="png", elem_classes=["heatmap"])
                    for _ in st.names
                ]

            with gr.Tab("Live skip ablation", id="ablation"):
                gr.Markdown(
                    "Switch a skip connection off and the network runs again without it "
                    "(`forward(x, drop_skips=...)`): the finer layer's contribution is replaced by zeros, so you "
                    "see what it added. Without pool4, FCN-16s falls back to FCN-32s's coarse grid."
                )
                with gr.Row(equal_height=False):
                    with gr.Column(elem_classes=["panel"], scale=2):
                        gr.HTML(f'<div class="panel-title">{titles.get("fcn16s", "FCN-16s")}</div>')
                        ab16_p4 = gr.Checkbox(True, label="pool4 skip (stride 16)")
                        ab16_img = gr.Image(show_label=False, interactive=False, format="jpeg", elem_id="ablate-16")
                        ab16_txt = gr.HTML()
                    with gr.Column(elem_classes=["panel"], scale=2):
                        gr.HTML(f'<div class="panel-title">{titles.get("fcn8s", "FCN-8s")}</div>')
                        with gr.Row():
                            ab8_p4 = gr.Checkbox(True, label="pool4 skip (stride 16)")
                            ab8_p3 = gr.Checkbox(True, label="pool3 skip (stride 8)")
                        ab8_img = gr.Image(show_label=False, interactive=False, format="jpeg", elem_id="ablate-8")
                        ab8_txt = gr.HTML()
                    with gr.Column(elem_classes=["panel"], scale=1, min_width=240):
                        gr.HTML(
                            f'<div class="panel-title">{titles.get("fcn32s", "FCN-32s")}</div>'
                            '<div class="muted">for reference: no skips at all</div>'
                        )
                        ab32_img = gr.Image(show_label=False, interactive=False, format="jpeg", elem_id="ablate-32")
                ab_inputs = [state, ab16_p4, ab8_p4, ab8_p3]
                ab_outputs = [ab16_img, ab16_txt, ab8_img, ab8_txt, ab32_img]

            with gr.Tab("Training replay", id="replay"):
                gr.Markdown(
                    "How each network learned, epoch by epoch: loss and validation mIoU on the left and right, and "
                    "below, each model's prediction on a fixed validation image after that epoch. Playback runs in "
                    "your browser. FCN-16s and FCN-8s start from the trained coarser net (the paper's staged "
                    "training), so their epoch 0 is already good."
                )
                gr.HTML(
                    value="",
                    html_template='<div class="replay"></div>',
                    js_on_load=(WEB / "replay.js").read_text(),
                    replay=replay,
                    elem_id="replay",
                )

            with gr.Tab("Metrics", id="metrics") as metrics_tab:
                if metrics:
                    gr.Markdown(
                        f"### Test split: {metrics.get('images', '?')} images, scored at full resolution\n"
                        "Pixel accuracy, mean class accuracy, mean IoU and frequency-weighted IoU as in the FCN paper."
                    )
                    gr.Dataframe(
                        value=_metrics_rows(metrics),
                        headers=["Model", "Pixel acc", "Mean acc", "mIoU", "FW IoU"]
                        + [f"IoU {c}" for c in metrics.get("classes", CLASSES)],
                        interactive=False,
                        elem_id="metrics-table",
                    )
                else:
                    gr.Markdown("No `metrics.json` next to the checkpoints yet: run `python -m fcn_demo.evaluate`.")
                # Drawn on first visit (matplotlib is not imported at start-up), then cached.
                bars_img = _chart_image("iou-bars", visible=bool(metrics))
                if histories:
                    gr.Markdown("### Training curves")
                curves_img = _chart_image("curves", visible=bool(histories))
                gr.Markdown("### Where the weights came from")
                gr.Dataframe(
                    value=_provenance_rows(loaded, histories, titles),
                    headers=["Model", "Source", "Saved epoch", "Epochs", "Training time", "Status"],
                    interactive=False,
                    wrap=True,
                    elem_id="provenance",
                )

        gr.Markdown(
            "Sample images and training data: [Oxford-IIIT Pet](https://www.robots.ox.ac.uk/~vgg/data/pets/) "
            "(Parkhi, Vedaldi, Zisserman & Jawahar, CVPR 2012), CC BY-SA 4.0, images © their owners. "
            "Programmatic use: the `segment` endpoint (see *Use via API* below).",
            elem_id="attribution",
        )

        with gr.Group(visible=False):  # the API endpoint's own components, not shown in the page
            api_in = gr.Image(type="filepath", image_mode=None, label="image")
            api_masks = gr.File(file_count="multiple", label="masks")
            api_json = gr.JSON(label="summary")
            api_btn = gr.Button()

        # ------------------------------------------------------------------ events

        seg_outputs = []
        for name in st.names:
            seg_outputs += [panels[name], stats[name], err_boxes[name]]
        seg_outputs += [status, download, state]
        seg_kwargs = {
            "fn": on_segment,
            "inputs": [image_in, *controls],
            "outputs": seg_outputs,
            "preprocess": False,  # the pipeline validates the raw upload and says what is wrong
            "concurrency_id": "models",
            "concurrency_limit": 1,
            "api_visibility": "undocumented",
        }
        after = {"api_visibility": "undocumented", "show_progress": "hidden"}
        for trigger in (
            image_in.upload(**seg_kwargs),
            run_btn.click(**seg_kwargs),
            gallery.select(on_pick, None, image_in, api_visibility="undocumented").then(**seg_kwargs),
        ):
            trigger.success(on_maps, [state, cls_in, view_in], maps_out, **after).success(
                on_ablate, ab_inputs, ab_outputs, concurrency_id="models", **after
            )
        for box in (cls_in, view_in):
            box.input(on_maps, [state, cls_in, view_in], maps_out, **after)
        for box in (ab16_p4, ab8_p4, ab8_p3):
            box.input(on_ablate, ab_inputs, ab_outputs, concurrency_id="models", **after)
        metrics_tab.select(charts, None, [bars_img, curves_img], api_visibility="undocumented", show_progress="minimal")
        api_btn.click(
            api_segment,
            api_in,
            [api_masks, api_json],
            api_name="segment",
            preprocess=False,
            concurrency_id="models",
        )
    return demo


def _chart_image(elem_id: str, visible: bool) -> gr.Image:
    """A read-only picture slot for a chart drawn on demand."""
    return gr.Image(show_label=False, interactive=False, format="png", buttons=[], visible=visible, elem_id=elem_id)


def _read_metrics(loaded: dict) -> dict | None:
    """checkpoints/metrics.json beside the model folders (or in the repo's checkpoints/)."""
    candidates = [Path(m.folder).parent / "metrics.json" for m in loaded.values() if m.folder is not None]
    candidates.append(REPO_ROOT / "checkpoints" / "metrics.json")
    for p in candidates:
        if p.exists():
            try:
                return json.loads(p.read_text())
            except (OSError, ValueError):
                log.warning("unreadable %s", p)
    return None


def _metrics_rows(metrics: dict) -> list[list]:
    rows = []
    for name, m in metrics["models"].items():
        vals = [m["pixel_acc"], m["mean_acc"], m["miou"], m["fwiou"], *m["iou"]]
        rows.append([m.get("title", name), *[f"{float(v):.3f}" for v in vals]])
    return rows


def _provenance_rows(loaded: dict, histories: dict, titles: dict) -> list[list]:
    rows = []
    for name, m in loaded.items():
        h = histories.get(name, {})
        epochs = h.get("epochs", [])
        wall = (h.get("summary") or {}).get("wall_time_s")
        rows.append(
            [
                titles.get(name, name),
                m.source,
                h.get("best_epoch", "–"),
                max((r["epoch"] for r in epochs), default="–"),
                f"{wall / 60:.1f} min" if wall else "–",
                "loaded" if m.model is not None else f"unavailable: {m.error}",
            ]
        )
    return rows


def launch_kwargs() -> dict:
    """Theme, CSS and server settings (Gradio 6 takes theme/css in launch())."""
    theme = gr.themes.Soft(
        primary_hue="orange",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )
    return {
        "theme": theme,
        "css": (WEB / "app.css").read_text(),
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ["GRADIO_SERVER_PORT"]) if os.environ.get("GRADIO_SERVER_PORT") else None,
        "max_file_size": "50mb",
        "allowed_paths": [str(REPO_ROOT / "samples")],  # the gallery's files, whatever the working directory
        "ssr_mode": False,
        "show_error": True,
        # Gradio keeps each visitor's session (its component state) until this many newer ones
        # exist, least recently used first: by default 10,000, hundreds of MiB on a long-running
        # Space. A classroom is far fewer; a session evicted after long idleness just re-picks its image.
        "state_session_capacity": SESSIONS_KEPT,
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t0 = time.perf_counter()
    device = pick_device()  # chosen once, passed on explicitly
    release_memory_periodically()  # bounded RSS under varied uploads (see bench/load.py)
    st = DemoState(load_models(device=str(device)), device)
    demo = build_demo(st)
    demo.queue(default_concurrency_limit=2, max_size=32)
    demo.launch(prevent_thread_lock=True, **launch_kwargs())
    log.info("serving %s models %.1f s after start-up began", len(st.available), time.perf_counter() - t0)
    # Warm up after the page is up, so start-up is not slowed and the first visitor's latencies
    # are the model's, not one-time kernel set-up.
    st.segmenter.warmup()
    demo.block_thread()


if __name__ == "__main__":
    main()
