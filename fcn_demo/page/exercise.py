"""The Exercise tab: a student paints the pet (and, if they like, its border) on a sample, and is
graded against the ground truth beside the four models. No model runs here."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from fcn_demo.core.data import CLASS_COLORS, CLASSES, resize_mask
from fcn_demo.core.i18n import join_and, text
from fcn_demo.core.metrics import image_metrics
from fcn_demo.page.html import empty, escape, img_tag
from fcn_demo.page.layout import T
from fcn_demo.page.metrics import metrics_table
from fcn_demo.page.parts import score_labels
from fcn_demo.page.viz import error_map, legend_html
from fcn_demo.request.analysis import Analysis

# The brush colours: the class colours of the overlays, so the painting reads like a mask.
BRUSH = {
    CLASSES.index("pet"): CLASS_COLORS[CLASSES.index("pet")],
    CLASSES.index("border"): CLASS_COLORS[CLASSES.index("border")],
}
BRUSH_HEX = ["#{:02x}{:02x}{:02x}".format(*c) for c in BRUSH.values()]


def layout(ui) -> None:
    gr.Markdown(T("exercise_text"))
    ui.slot("exercise")
    ui.add("grade", gr.Button(T("grade"), variant="primary", elem_id="grade"))
    ui.slot("exercise-grade")


def editor(view_id: str, value=None) -> gr.ImageEditor:
    """The canvas: the sample to paint on, with the class colours as the only brushes."""
    return gr.ImageEditor(value, type="numpy", image_mode="RGBA", sources=(), transforms=(), layers=False,
                          brush=gr.Brush(colors=BRUSH_HEX, color_mode="fixed", default_size=14),
                          label=T("your_mask"), elem_id=view_id, height=420)  # fmt: skip


def student_mask(editor_value: dict | None, size: tuple[int, int]) -> np.ndarray | None:
    """The class mask a student painted, at ``size`` = (h, w): every painted pixel takes the class
    of the nearest brush colour, unpainted ones are background. None when nothing was painted."""
    if not editor_value:
        return None
    layers = [np.asarray(layer) for layer in editor_value.get("layers") or [] if layer is not None]
    layers = [x for x in layers if x.ndim == 3 and x.shape[2] == 4]
    if not layers:
        return None
    h, w = layers[0].shape[:2]
    mask = np.zeros((h, w), np.uint8)
    colors = np.array(list(BRUSH.values()), np.float32)
    classes = np.array(list(BRUSH), np.uint8)
    for layer in layers:  # later layers paint over earlier ones
        painted = layer[..., 3] > 0
        if painted.any():
            rgb = layer[painted][:, :3].astype(np.float32)
            nearest = ((rgb[:, None, :] - colors[None]) ** 2).sum(-1).argmin(1)
            mask[painted] = classes[nearest]
    if not (mask > 0).any():
        return None
    return resize_mask(mask, size)


def grade(a: Analysis | None, painted: np.ndarray | None, lang: str = "en") -> str:
    """The student's scores beside the four models', their error map, and a verdict."""
    if a is None or a.gt is None:
        return empty(text(lang, "gen.exercise.no_sample"))
    if painted is None:
        return empty(text(lang, "gen.exercise.no_paint"))
    mine = image_metrics(painted, a.gt)
    rows = [(text(lang, "gen.exercise.you"), mine)] + [(m.title, m.metrics) for m in a.models.values() if m.metrics]
    columns = [(k, lambda m, v=v: m[v]) for k, v in score_labels(lang)]
    beaten = [who for who, m in rows[1:] if mine["miou"] > m["miou"]]
    if beaten:
        verdict = text(lang, "gen.exercise.beats", miou=mine["miou"], models=join_and(lang, beaten))
    else:
        verdict = text(lang, "gen.exercise.below", miou=mine["miou"], model=rows[1][0], ref=rows[1][1]["miou"])
    alt = text(lang, "gen.alt.your_errors", image=a.label, wrong=float((painted != a.gt).mean()))
    caption, who = text(lang, "gen.exercise.caption", image=a.label), text(lang, "gen.exercise.who")
    return (
        f'<div class="notice">{escape(verdict)}</div>{metrics_table(caption, rows, columns, who)}'
        f"<figure class='panel-figure'>{img_tag(error_map(a.rgb, painted, a.gt), alt, cls='panel-img')}</figure>"
        f"{legend_html(True, lang)}"
    )


def canvas(a: Analysis | None) -> dict | None:
    """The editor's starting value: the sample's photo to paint on (None for uploads)."""
    if a is None or a.gt is None:
        return None
    return {"background": Image.fromarray(a.rgb), "layers": [], "composite": None}
