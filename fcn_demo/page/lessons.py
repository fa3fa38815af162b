"""The Lessons tab: each model's confidence (the winning class's softmax probability) as a map, the
learned upsampling (fcn_demo.page.upsampling), and the "what to notice" line every tab shows,
computed from the current image's numbers."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
import numpy as np

from fcn_demo.core.data import CLASSES
from fcn_demo.core.i18n import join_and, listing, plural, sentences, text
from fcn_demo.page import ablation, compare, maps
from fcn_demo.page.html import card, empty, escape, figure, grid, stat, stats, title
from fcn_demo.page.layout import T
from fcn_demo.page.parts import finite, image_name, notice_line, pct
from fcn_demo.page.viz import _colormap
from fcn_demo.request.analysis import Analysis, ModelAnswer

BORDER = CLASSES.index("border")
# Confidence is the winning class's softmax probability: at least 1/3 with three classes (a tie).
CONF_LOW = 1 / len(CLASSES)
CONF_CMAP = "viridis"  # perceptually uniform and colour-blind safe: dark = unsure, yellow = sure
UNSURE = 0.5  # below this no class holds a majority of the probability at that pixel
WHATIF = {"kernel": 4, "stride": 2}  # the what-if's sliders at first: FCN's own 2x upsampling


def layout(ui) -> None:
    ui.slot("lessons")
    # The transposed-convolution what-if (page.whatif): two sliders and their answer, drawn on the server.
    gr.Markdown(T("whatif_title"))
    with gr.Row(elem_classes=["whatif-row"]):
        for name, top in (("kernel", 8), ("stride", 4)):
            ui.add(f"whatif-{name}", gr.Slider(1, top, value=WHATIF[name], step=1, label=T(f"whatif_{name}"),
                                               elem_id=f"whatif-{name}"))  # fmt: skip
    ui.add("whatif-out", gr.HTML(elem_id="whatif-out"))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def confidence_stats(m: ModelAnswer, gt: np.ndarray | None) -> dict:
    """Mean confidence, the share of pixels below :data:`UNSURE` and, with ground truth, the mean
    on the border band and elsewhere."""
    conf = m.confidence.astype(np.float32) / 255
    out = {"mean": float(conf.mean()), "unsure": float((conf < UNSURE).mean()), "border": None, "elsewhere": None}
    if gt is not None:
        band = gt == BORDER
        out["border"], out["elsewhere"] = _mean(conf[band]), _mean(conf[~band])
    return out


def _confidence_picture(rgb: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    level = np.clip((confidence.astype(np.float32) / 255 - CONF_LOW) / (1 - CONF_LOW), 0, 1)
    colors = _colormap(CONF_CMAP)(level)[..., :3] * 255
    gray = rgb.astype(np.float32).mean(-1, keepdims=True)
    return (colors * 0.82 + gray * 0.18).round().clip(0, 255).astype(np.uint8)


def _confidence_scale(lang: str = "en") -> str:
    """The colour scale as HTML: a gradient bar (decorative) and its ends in words."""
    stops = ", ".join(
        f"rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f}) {t:.0%}"
        for t, (r, g, b, _) in ((t, _colormap(CONF_CMAP)(t)) for t in np.linspace(0, 1, 6))
    )
    return (
        f'<div class="lesson-scale"><div class="lesson-scale-bar" aria-hidden="true" '
        f'style="background:linear-gradient(to right, {stops})"></div>'
        f'<div class="lesson-scale-labels"><span>{escape(text(lang, "gen.confidence.low", low=CONF_LOW))}</span>'
        f"<span>{escape(text(lang, 'gen.confidence.high'))}</span></div></div>"
    )


def confidence_panels(a: Analysis | None, names: list[str], lang: str = "en") -> str:
    """Per model a map of its confidence (the winning class's softmax probability) with a colour
    scale, its mean and, for samples, its mean on the ground-truth border band vs elsewhere."""
    if a is None:
        return empty(text(lang, "gen.confidence.empty"))
    cards = []
    for name in names:
        m = a.models.get(name)
        if m is None or m.confidence is None:
            cards.append(card(title(name) + empty(text(lang, "gen.confidence.not_loaded"))))
            continue
        s = confidence_stats(m, a.gt)
        said = {"model": m.title, "image": image_name(a, lang), "mean": s["mean"]}
        items = [stat(text(lang, "gen.stat.mean"), f"{s['mean']:.2f}"),
                 stat(text(lang, "gen.stat.below", unsure=UNSURE), pct(s["unsure"]))]  # fmt: skip
        if finite(s["border"]):
            alt = text(lang, "gen.alt.confidence_band", **said, band=s["border"], elsewhere=s["elsewhere"])
            items += [stat(text(lang, "gen.stat.border_band"), f"{s['border']:.2f}"),
                      stat(text(lang, "gen.stat.elsewhere"), f"{s['elsewhere']:.2f}")]  # fmt: skip
        else:
            alt = text(lang, "gen.alt.confidence", **said)
        picture = _confidence_picture(a.rgb, m.confidence)
        cards.append(card(title(name) + figure(picture, alt) + stats(*items) + _confidence_scale(lang)))
    intro = f'<p class="lesson-intro">{escape(text(lang, "gen.confidence.intro", low=CONF_LOW))}</p>'
    return intro + grid(cards, a.label)


def _span(values) -> str:
    lo, hi = f"{min(values):.2f}", f"{max(values):.2f}"
    return lo if lo == hi else f"{lo}–{hi}"


def notice_confidence(a: Analysis, lang: str = "en", **_) -> str:
    conf = {n: confidence_stats(m, a.gt) for n, m in a.models.items() if m.confidence is not None}
    image = image_name(a, lang)
    if not conf:
        return text(lang, "gen.notice.confidence_none", image=image)
    t = {n: a.models[n].title for n in conf}
    on = {n: s["border"] for n, s in conf.items() if finite(s["border"])}
    if on:
        off = {n: conf[n]["elsewhere"] for n in on}
        low = min(on, key=on.get)
        if all(on[n] < off[n] for n in on):
            said = {"on": _span(on.values()), "off": _span(off.values())}
            if "–" in said["on"]:
                return text(lang, "gen.notice.confidence_band_least", **said, model=t[low], value=on[low])
            return text(lang, "gen.notice.confidence_band", **said)
        calm = [n for n in on if on[n] >= off[n]]
        pairs = listing(lang, (text(lang, "gen.notice.vs", on=on[n], off=off[n]) for n in calm))
        return text(lang, "gen.notice.confidence_calm", image=image, models=join_and(lang, [t[n] for n in calm]),
                    are=plural(lang, "gen.n.be", len(calm)), pairs=pairs)  # fmt: skip
    low, high = min(conf, key=lambda n: conf[n]["mean"]), max(conf, key=lambda n: conf[n]["mean"])
    said = {"low": t[low], "image": image, "mean": conf[low]["mean"], "unsure": pct(conf[low]["unsure"])}
    if f"{conf[high]['mean']:.2f}" != f"{conf[low]['mean']:.2f}":
        first = text(lang, "gen.notice.confidence_least_surest", **said, high=t[high], high_mean=conf[high]["mean"])
    else:
        first = text(lang, "gen.notice.confidence_least", **said)
    unsure = a.models[low].confidence.astype(np.float32) / 255 < UNSURE
    if len(a.models) > 1 and unsure.any():
        differ = a.disagreement.distinct > 1
        share = pct(float(differ[unsure].mean()))
        return sentences(lang, first, text(lang, "gen.notice.confidence_unsure_disagree", share=share))
    return first


NOTICES: dict[str, Callable[..., str]] = {
    "compare": compare.notice_compare,
    "maps": maps.notice_maps,
    "ablation": ablation.notice_ablation,
    "confidence": notice_confidence,
    "disagreement": compare.notice_disagreement,
}
NOTICE_VIEWS = tuple(NOTICES)


def notice(view: str, a: Analysis | None, lang: str = "en", **kw) -> str:
    """One or two sentences under ``view`` (one of :data:`NOTICE_VIEWS`), computed from the current
    image's numbers, in ``lang``; "" before the first image. ``ablation`` takes ``drops``: model name
    -> the skips switched off now (default: all, said as "would change")."""
    if view not in NOTICES:
        raise ValueError(f"unknown view {view!r}; valid: {', '.join(NOTICE_VIEWS)}")
    if a is None or not a.models:
        return ""
    return notice_line(view, NOTICES[view](a, lang=lang, **kw), lang)
