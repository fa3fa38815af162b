"""The receptive-field what-if, on the Ask-a-pixel tab: what if the models worked on a bigger photo?

At the app's working size (shorter side 256 px) every model's theoretical field is wider than the
photo (308 to 388 px), so the four boxes all cover all of it and cannot be told apart. The fields
are fixed in working pixels by the layers, so on a bigger working image they cover less of it: this
draws, for the last probed pixel, every model's theoretical box at the chosen working size (the
registry's own arithmetic, :meth:`fcn_demo.models.receptive.ReceptiveField.box`) and its effective
field (the circle holding 90% of the gradient the probe measured), kept as many working pixels wide.
Nothing runs a model: the boxes are arithmetic, the circles the probe's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from fcn_demo.core.i18n import text
from fcn_demo.core.preprocess import WORKING_SHORT_SIDE, working_size
from fcn_demo.models import get_variant
from fcn_demo.models.receptive import ReceptiveField
from fcn_demo.page.html import empty, escape, img_tag
from fcn_demo.page.layout import T
from fcn_demo.page.parts import pct
from fcn_demo.request.probe import MASS, Probe, box_to_display, to_work

SIZES = (WORKING_SHORT_SIDE, 2048, 128)  # the slider: shorter side from, to, step (working pixels)
DEFAULT = 1024  # where the four boxes are clearly smaller than the photo, and differ
DRAW_SIDE = 520  # the picture's longer side (the photo is scaled to it, so thin lines stay visible)


@dataclass(frozen=True)
class Asked:
    """What the what-if keeps of a probe (a gr.State: small, plain): the pixel, the image's size,
    the working size the probe ran at and each model's measured radius there (working pixels)."""

    x: int
    y: int
    size: tuple[int, int]
    work_size: tuple[int, int]
    radius: dict[str, float]

    @classmethod
    def of(cls, p: Probe) -> Asked:
        return cls(p.x, p.y, tuple(p.size), tuple(p.work_size), {n: m.radius_px for n, m in p.models.items()})


def layout(ui) -> None:
    gr.Markdown(T("reach_text"), elem_id="reach-text")
    lo, hi, step = SIZES
    ui.add("reach-size", gr.Slider(lo, hi, value=DEFAULT, step=step, label=T("reach_size"), buttons=[],
                                   elem_id="reach-size"))  # fmt: skip
    ui.slot("reach")  # the last probe's record and the what-if (views: a new image empties both)


def empty_panel(lang: str = "en") -> str:
    return empty(text(lang, "gen.reach.empty"))


def checked(short) -> int:
    """The slider's value as a working size the what-if draws (a forged one is brought into range)."""
    lo, hi, step = SIZES
    v = short if isinstance(short, (int, float)) and not isinstance(short, bool) and math.isfinite(short) else DEFAULT
    return int(min(hi, max(lo, round(v / step) * step)))


def boxes(asked: Asked, fields: dict[str, ReceptiveField], short: int) -> tuple[tuple[int, int], dict]:
    """The working size at ``short`` and, per model, its theoretical box there (display pixels) and
    its effective circle's radius (display pixels)."""
    (h, w) = asked.size
    ws = working_size(h, w, short)
    wx, wy = to_work(asked.x, asked.y, (h, w), ws)
    out = {}
    for n, f in fields.items():
        if n not in asked.radius:
            continue
        box = box_to_display(f.box(wy, wx, ws), ws, (h, w))
        out[n] = (box, asked.radius[n] * h / ws[0], f.box(wy, wx, ws))
    return ws, out


def _dashed_circle(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, color: str, width: int) -> None:
    for start in range(0, 360, 20):
        draw.arc((x - r, y - r, x + r, y + r), start, start + 12, fill=color, width=width)


def picture(rgb: np.ndarray, asked: Asked, drawn: dict) -> Image.Image:
    """The photo with every model's box (solid) and effective circle (dashed) in its colour."""
    h, w = rgb.shape[:2]
    s = DRAW_SIDE / max(h, w)
    im = Image.fromarray((rgb.astype(np.float32) * 0.7 + 255 * 0.1).astype(np.uint8)).resize(
        (round(w * s), round(h * s)), Image.BILINEAR
    )
    draw = ImageDraw.Draw(im)
    for i, (n, (box, radius, _)) in enumerate(drawn.items()):
        color = get_variant(n).color
        top, left, bottom, right = box
        inset = 5 * i  # boxes of the same size stay apart, one inside the other, each colour in view
        rect = (left * s + inset, top * s + inset, (right + 1) * s - 1 - inset, (bottom + 1) * s - 1 - inset)
        draw.rectangle(rect, outline="white", width=4)
        draw.rectangle(rect, outline=color, width=3)
        cx, cy = (asked.x + 0.5) * s, (asked.y + 0.5) * s
        _dashed_circle(draw, cx, cy, radius * s, "white", 5)
        _dashed_circle(draw, cx, cy, radius * s, color, 3)
    cx, cy = (asked.x + 0.5) * s, (asked.y + 0.5) * s
    draw.ellipse((cx - 5, cy - 5, cx + 5, cy + 5), fill="white", outline="black", width=2)
    return im


def panel(rgb: np.ndarray | None, asked: Asked | None, fields: dict[str, ReceptiveField], short, label: str,
          lang: str = "en") -> str:  # fmt: skip
    """The what-if for the last probed pixel at working size ``short`` (its shorter side), in ``lang``."""
    if rgb is None or asked is None or tuple(rgb.shape[:2]) != tuple(asked.size):
        return empty_panel(lang)
    short = checked(short)
    ws, drawn = boxes(asked, fields, short)
    if not drawn:
        return empty_panel(lang)
    rows, shares, widths = [], [], []
    for n, (*_, work_box) in drawn.items():
        top, left, bottom, right = work_box
        bw, bh = right - left + 1, bottom - top + 1
        share = bw * bh / (ws[0] * ws[1])
        d = 2 * asked.radius[n]
        shares.append(share)
        widths.append(d)
        color = get_variant(n).color
        said = text(lang, "gen.reach.row", model=get_variant(n).title, bw=bw, bh=bh, share=pct(share), d=d)
        rows.append(f'<li><i style="background:{color}" aria-hidden="true"></i>{escape(said)}</li>')
    (h0, w0), (h, w) = asked.work_size, ws
    sentence = text(lang, "gen.reach.sentence", w=w, h=h, lo=pct(min(shares)), hi=pct(max(shares)),
                    dlo=min(widths), dhi=max(widths), w0=w0, h0=h0)  # fmt: skip
    alt = text(lang, "gen.reach.alt", image=label, x=asked.x, y=asked.y, w=w, h=h)
    key = text(lang, "gen.reach.key", mass=MASS, w0=w0, h0=h0)
    return (
        f'<div class="reach" data-short="{short}"><p class="reach-sentence">{escape(sentence)}</p>'
        f"<div class='reach-body'><figure class='reach-figure'>{img_tag(picture(rgb, asked, drawn), alt, cls='reach-img')}"
        f'</figure><div><ul class="reach-rows">{"".join(rows)}</ul><p class="muted reach-key">{escape(key)}</p>'
        "</div></div></div>"
    )
