"""The paint-and-grade exercise: a student paints the pet (and, if they like, its border) on a
sample, and is graded against the ground truth beside the four models. No model runs here."""

from __future__ import annotations

import html

import numpy as np
from PIL import Image

from fcn_demo.core.data import CLASS_COLORS, CLASSES, resize_mask
from fcn_demo.core.i18n import join_and, text
from fcn_demo.core.metrics import image_metrics
from fcn_demo.page.views import empty, img_tag, score_labels
from fcn_demo.page.viz import error_map, legend_html
from fcn_demo.request.analysis import Analysis

# The brush colours: the class colours of the overlays, so the painting reads like a mask.
BRUSH = {
    CLASSES.index("pet"): CLASS_COLORS[CLASSES.index("pet")],
    CLASSES.index("border"): CLASS_COLORS[CLASSES.index("border")],
}
BRUSH_HEX = ["#{:02x}{:02x}{:02x}".format(*c) for c in BRUSH.values()]


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
    labels = score_labels(lang)
    head = "".join(f'<th scope="col">{html.escape(k)}</th>' for k, _ in labels)
    body = "".join(
        f"<tr><th scope='row'>{html.escape(who)}</th>" + "".join(f"<td>{m[v]:.3f}</td>" for _, v in labels) + "</tr>"
        for who, m in rows
    )
    beaten = [who for who, m in rows[1:] if mine["miou"] > m["miou"]]
    if beaten:
        verdict = text(lang, "gen.exercise.beats", miou=mine["miou"], models=join_and(lang, beaten))
    else:
        verdict = text(lang, "gen.exercise.below", miou=mine["miou"], model=rows[1][0], ref=rows[1][1]["miou"])
    alt = text(lang, "gen.alt.your_errors", image=a.label, wrong=float((painted != a.gt).mean()))
    return (
        f'<div class="notice">{html.escape(verdict)}</div>'
        f'<table class="data"><caption>{html.escape(text(lang, "gen.exercise.caption", image=a.label))}</caption>'
        f'<thead><tr><th scope="col">{html.escape(text(lang, "gen.exercise.who"))}</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
        f"<figure class='panel-figure'>{img_tag(error_map(a.rgb, painted, a.gt), alt, cls='panel-img')}</figure>"
        f"{legend_html(True, lang)}"
    )


def canvas(a: Analysis | None) -> dict | None:
    """The editor's starting value: the sample's photo to paint on (None for uploads)."""
    if a is None or a.gt is None:
        return None
    return {"background": Image.fromarray(a.rgb), "layers": [], "composite": None}
