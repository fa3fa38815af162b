"""Linked views: a pixel chosen on any picture of the image is marked at once on all of them.

The marking is the browser's (web/linked.js, delegated on the pictures: the Compare cards, the
ground truth, the skip maps' tiles and the Ask-a-pixel photo): a click or tap, a hover where there
is a mouse, or the arrow keys on a focused picture draw a crosshair on every picture of the same
image, with no round trip. Choosing (a click, a tap, Enter, or a hover that rests on a sample whose
probes are precomputed) then clicks the hidden button this module adds, whose ``probe_at`` event
sends where, as fractions of the picture, and asks the probe for that pixel (``DemoState.probe_at``).
"""

from __future__ import annotations

import json
import math

import gradio as gr

from fcn_demo.core.i18n import LOCALES, text
from fcn_demo.core.inputs import InputError
from fcn_demo.page.layout import WEB

WORDS = ("hint", "marked", "asked")  # the script's phrases: gen.link.<word> in every locale


# The "probe-go" button's click hands the script's choice (window.fcnChosen) to the event as the
# "probe-at" box's value: Gradio takes an event's inputs from its js function's answer.
ASK_JS = "(a, at, lang) => [a, window.fcnChosen || '', lang]"


def layout(ui) -> None:
    """The hidden box and button the script asks the probe with (rendered, so the script can reach them)."""
    ui.add("probe-at", gr.Textbox(visible="hidden", elem_id="probe-at", show_label=False, container=False))
    ui.add("probe-go", gr.Button("probe", visible="hidden", elem_id="probe-go"))


def head() -> str:
    """The script and its phrases in every language (it picks the browser's, as the page does)."""
    words = {loc: {w: text(loc, f"gen.link.{w}") for w in WORDS} for loc in LOCALES}
    # json.dumps leaves "<" as it is: "</" would end the script element early, so it is escaped.
    said = json.dumps(words, ensure_ascii=False).replace("</", "<\\/")
    return f"<script>\n{(WEB / 'linked.js').read_text().replace('__WORDS__', said)}\n</script>"


def fractions(at) -> tuple[float, float]:
    """Where the script says a pixel was chosen, "fx,fy[,n]": two fractions of the picture's width and
    height in [0, 1) (``n``, a counter that makes a repeated choice a change, is ignored)."""
    parts = at.split(",") if isinstance(at, str) and len(at) <= 64 else []
    try:
        fx, fy = (float(v) for v in parts[:2]) if len(parts) in (2, 3) else (math.nan, math.nan)
    except ValueError:
        fx = fy = math.nan
    if not all(math.isfinite(v) and 0 <= v < 1 for v in (fx, fy)):
        raise InputError.say("gen.error.point_type")
    return fx, fy


def pixel(at, size: tuple[int, int]) -> tuple[int, int]:
    """The display pixel (x, y) of an image of ``size`` (h, w) at the script's fractions ``at``."""
    fx, fy = fractions(at)
    h, w = size
    return min(w - 1, int(fx * w)), min(h - 1, int(fy * h))
