"""Export for slides (teacher mode): the view on the page as one PNG with its caption in the page's
language, composed on the server from the analysis (PIL and the shipped Noto subset, never a
screenshot), made only when a teacher asks for it.

- the Compare tab: every model's picture in a row, each with its title, what it shows and its scores;
- the Skip-layer maps tab: one model's row of teaching maps, under the sentence that says what it shows.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import gradio as gr
from PIL import Image, ImageDraw

from fcn_demo.core.data import CLASS_COLORS
from fcn_demo.core.fonts import pil
from fcn_demo.core.i18n import class_name, listing, text
from fcn_demo.models import get_variant
from fcn_demo.page import maps
from fcn_demo.page.compare import panel_picture
from fcn_demo.page.layout import T
from fcn_demo.page.parts import image_name, score_labels
from fcn_demo.page.viz import ERROR_COLOR, wrap
from fcn_demo.request.analysis import Analysis

TABS = ("compare", "maps")  # the tabs with an export button
PICTURE_H = 360  # each model's picture on the Compare slide, in pixels (a 1080p slide's third)
PAD, INK, MUTED = 24, "#111111", "#444444"


def layout(ui, tab: str) -> None:
    """The tab's export button (and on the maps tab, which row), under the tab's own layout."""
    st = ui.st
    if tab == "compare":
        ui.add("slide-compare", gr.Button(T("slide_compare"), size="sm", elem_id="slide-compare"))
    elif tab == "maps":
        with gr.Row(elem_id="slide-maps-row"):
            choices = [(get_variant(n).title, n) for n in st.names]
            ui.add("slide-row", gr.Dropdown(choices, value=st.names[-1] if st.names else None, label=T("slide_row"),
                                            elem_id="slide-row", scale=1))  # fmt: skip
            ui.add("slide-maps", gr.Button(T("slide_maps"), size="sm", elem_id="slide-maps", scale=1))
    if "slide-file" not in ui.components:  # the PNG, sent when asked for (saved by the browser, never shown)
        ui.add("slide-file", gr.File(visible="hidden", elem_id="slide-file"))


def _lines(said: str, size: int, width: int) -> list[str]:
    return wrap(ImageDraw.Draw(Image.new("L", (1, 1))), said, pil(size), width)


def _block(lines: list[str], size: int, width: int, fill: str = INK) -> Image.Image:
    """Lines of text at ``size`` px on white, ``width`` wide."""
    step = round(size * 1.35)
    out = Image.new("RGB", (width, step * len(lines) + 4), "white")
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((0, i * step), line, fill=fill, font=pil(size))
    return out


def _stack(parts: list[Image.Image], width: int, gap: int = 12) -> Image.Image:
    """``parts`` one under another on white, with a margin."""
    out = Image.new("RGB", (width + 2 * PAD, sum(p.height for p in parts) + gap * (len(parts) - 1) + 2 * PAD), "white")
    y = PAD
    for p in parts:
        out.paste(p, (PAD, y))
        y += p.height + gap
    return out


def _legend(lang: str, errors: bool, width: int) -> Image.Image:
    """The class colours (and the wrong pixels' red) with their names in ``lang``."""
    items = [(rgb, class_name(lang, i)) for i, rgb in enumerate(CLASS_COLORS)]
    items += [(ERROR_COLOR, text(lang, "gen.legend.wrong"))] if errors else []
    out = Image.new("RGB", (width, 34), "white")
    draw, x = ImageDraw.Draw(out), 0
    for rgb, name in items:
        draw.rectangle((x, 7, x + 20, 27), fill=tuple(rgb), outline="#666666")
        draw.text((x + 28, 4), name, fill=INK, font=pil(20))
        x += 28 + round(draw.textlength(name, font=pil(20))) + 28
    return out


def _credit(a: Analysis, lang: str, width: int) -> list[Image.Image]:
    return [_block(_lines(text(lang, "gen.slide.credit"), 16, width), 16, width, MUTED)] if a.sample else []


def compare_slide(a: Analysis, names: list[str], opacity: float, mode: str, lang: str = "en") -> Image.Image:
    """Every model's picture of ``a`` in a row (as the Compare tab shows it: overlay, mask only or error
    map), each with its title, its picture's description and its scores, in ``lang``."""
    shown = [n for n in names if n in a.models]
    h, w = a.rgb.shape[:2]
    pw = max(1, round(w * PICTURE_H / h))
    cards = []
    for n in shown:
        m = a.models[n]
        picture, alt = panel_picture(a, m, opacity, mode, lang)
        head = Image.new("RGB", (pw, 36), "white")
        draw = ImageDraw.Draw(head)
        draw.rectangle((0, 8, 18, 26), fill=get_variant(n).color)
        draw.text((28, 2), m.title, fill=INK, font=pil(26))
        scores = listing(lang, (f"{k} {m.metrics[v]:.3f}" for k, v in score_labels(lang))) if m.metrics else ""
        said = [*_lines(alt, 17, pw), *(_lines(scores, 17, pw) if scores else [])]
        cards.append([head, Image.fromarray(picture).resize((pw, PICTURE_H), Image.LANCZOS), _block(said, 17, pw)])
    width = len(cards) * pw + (len(cards) - 1) * PAD
    row = Image.new("RGB", (width, max(sum(p.height for p in c) + 16 for c in cards)), "white")
    for i, card in enumerate(cards):
        y = 0
        for p in card:
            row.paste(p, (i * (pw + PAD), y))
            y += p.height + 8
    title = _block(_lines(text(lang, "gen.slide.compare", image=image_name(a, lang)), 34, width), 34, width)
    legend = _legend(lang, mode == "error map" and a.gt is not None, width)
    return _stack([title, row, legend, *_credit(a, lang, width)], width)


def maps_slide(a: Analysis, name: str, cls: int, probability: bool, lang: str = "en") -> Image.Image:
    """Model ``name``'s row of teaching maps of ``a`` (as the Skip-layer maps tab draws it, in ``lang``),
    under the sentence that says what it shows."""
    picture, alt = maps.row(a, name, cls, probability, lang)
    picture = picture.convert("RGB")
    width = picture.width
    return _stack([_block(_lines(alt, 22, width), 22, width), picture, *_credit(a, lang, width)], width)


def save(picture: Image.Image, folder: Path, name: str) -> Path:
    """``picture`` as ``folder/name.png`` (a name safe as a file name), written now."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")  # two visitors may ask at once
    picture.save(tmp, "PNG", optimize=True)
    tmp.replace(path)
    return path
