"""The Probe tab: a click on the photo asks every model about that pixel: its class probabilities,
its theoretical receptive field (a box) and its effective one (where the gradient of the winning
logit lies), drawn on the photo, with a sentence comparing them."""

from __future__ import annotations

import gradio as gr
import numpy as np

from fcn_demo.core.data import CLASS_COLORS
from fcn_demo.core.i18n import class_name, text
from fcn_demo.models import get_variant
from fcn_demo.page import reach
from fcn_demo.page.html import empty, escape, img_tag, stat, title
from fcn_demo.page.layout import T
from fcn_demo.page.parts import ms
from fcn_demo.page.viz import field_picture
from fcn_demo.request.probe import MASS, ModelProbe, Probe, sentence


def layout(ui) -> None:
    gr.Markdown(T("probe_text"))
    with gr.Row(equal_height=False, elem_id="probe-row"):
        ui.slot("probe")
    reach.layout(ui)


def photo(view_id: str, value=None) -> gr.Image:
    """The photo a visitor clicks on (the display-size image the models saw)."""
    return gr.Image(value, label=T("probe_photo"), interactive=False, format="jpeg", buttons=[], elem_id=view_id,
                    scale=1, min_width=260)  # fmt: skip


def _probability_bars(probs: np.ndarray, winner: int, lang: str = "en") -> str:
    rows = []
    for i, p in enumerate(probs):
        r, g, b = CLASS_COLORS[i]
        value = f"<b>{p:.3f}</b>" if i == winner else f"{p:.3f}"
        rows.append(
            f'<li><span class="k">{escape(class_name(lang, i))}</span><span class="probe-track" aria-hidden="true">'
            f'<span style="width:{p:.1%};background:rgb({r},{g},{b})"></span></span>{value}</li>'
        )
    aria = escape(text(lang, "gen.probe.bars"), quote=True)
    return f'<ul class="probe-bars" aria-label="{aria}">{"".join(rows)}</ul>'


def probe_alt(m: ModelProbe, x: int, y: int, label: str, lang: str = "en") -> str:
    """What a probe picture shows, in words."""
    return text(lang, "gen.alt.probe", model=m.title, x=x, y=y, image=label, px=m.field_px, mass=MASS, r=m.radius_px)


def probe_panels(p: Probe | None, rgb: np.ndarray | None, label: str | None = None, lang: str = "en") -> str:
    """The pixel probe: the sentence, then every model's card (the photo with its theoretical box,
    its effective field as heat, the probed pixel; the class probabilities as bars). ``rgb`` is
    the display-size image that was probed; ``label`` names it in the alt texts (default: "your
    photo" in ``lang``)."""
    if p is None or rgb is None:
        return empty(text(lang, "gen.probe.empty"))
    label = label or text(lang, "gen.your_photo")
    if tuple(rgb.shape[:2]) != tuple(p.size):
        raise ValueError(f"the probe was taken on a {p.size[1]}x{p.size[0]} image, not {rgb.shape[1]}x{rgb.shape[0]}")
    scale = p.size[0] / p.work_size[0]  # display pixels per working pixel (the same on both axes, to rounding)
    cards = []
    for name, m in p.models.items():
        picture = field_picture(rgb, m.heat, m.box, (p.x, p.y), get_variant(name).color, m.radius_px * scale)
        stats = (
            stat(text(lang, "gen.stat.field"), text(lang, "gen.unit.px", n=m.field_px))
            + stat(text(lang, "gen.stat.within", mass=MASS),
                    text(lang, "gen.probe.radius", d=2 * m.radius_px, frac=2 * m.radius_frac))
            + stat(text(lang, "gen.stat.forward_backward"),
                   text(lang, "gen.probe.ahead") if p.precomputed else ms(lang, m.ms))
        )  # fmt: skip
        alt = probe_alt(m, p.x, p.y, label, lang)
        cards.append(
            f'<div class="panel probe-panel" data-model="{name}">{title(name)}'
            f"<figure class='panel-figure'>{img_tag(picture, alt, cls='panel-img')}</figure>"
            f'{_probability_bars(m.probs, m.winner, lang)}<div class="panel-stats">{stats}</div></div>'
        )
    h, w = p.work_size
    key = escape(text(lang, "gen.probe.key", mass=MASS, w=w, h=h))
    said = p.sentence if lang == "en" else sentence(p.x, p.y, p.work_size, p.models, lang)
    ahead = f'<p class="probe-precomputed muted">{escape(text(lang, "gen.probe.precomputed", x=p.x, y=p.y))}</p>'
    return (
        f'<div class="probe" data-image="{escape(label)}" data-x="{p.x}" data-y="{p.y}"'
        f' data-precomputed="{str(p.precomputed).lower()}"><p class="probe-sentence">{escape(said)}</p>'
        f'{ahead if p.precomputed else ""}<p class="probe-key muted">{key}</p>'
        f'<div class="probe-panels">{"".join(cards)}</div></div>'
    )
