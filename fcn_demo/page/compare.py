"""The Compare tab: every model's mask side by side, the ground truth, where the models disagree,
and what to notice on this image. Its controls: the overlay's opacity and how a mask is drawn."""

from __future__ import annotations

import gradio as gr
import numpy as np

from fcn_demo.core.data import CLASSES
from fcn_demo.core.display import DIM_LIFT, DIM_SCALE, OVERLAY_OPACITY
from fcn_demo.core.i18n import class_name, number, plural, sentences, text
from fcn_demo.models import VARIANTS, get_variant
from fcn_demo.page.html import empty, figure, head, img_tag, stat, stats, title
from fcn_demo.page.layout import T
from fcn_demo.page.parts import finite, image_name, mask_alt, ms, pct, scores, unavailable, why_unavailable
from fcn_demo.page.state import VIEW_MODES, Settings
from fcn_demo.page.viz import _swatch, error_map, legend_html, overlay
from fcn_demo.request.analysis import Analysis, ModelAnswer

BORDER, PET = CLASSES.index("border"), CLASSES.index("pet")
# Disagreement map colours: two labels compete (yellow), all three do (magenta); both stand out on
# the dimmed photo and neither is a class colour (the pet is orange, the border cyan).
TWO_LABELS, THREE_LABELS = (250, 220, 40), (192, 38, 211)


def layout(ui) -> None:
    with gr.Row(elem_id="view-controls"):
        ui.add("opacity", gr.Slider(0, 1, value=Settings.opacity, step=0.05, label=T("opacity"), buttons=[],
                                    elem_id="opacity"))  # fmt: skip
        modes = [(T(f"mode_{m.replace(' ', '_')}"), m) for m in VIEW_MODES]  # shown in words, sent as is
        ui.add("mode", gr.Radio(modes, value=Settings.mode, label=T("show"), elem_id="mode", info=T("show_info")))
    ui.slot("compare")
    # On a phone the six cards would stack about 4,000 px tall: this switcher shows one at a time
    # (CSS shows it below 641 px only; app.py's SHOW_PANEL marks the others).
    cards = [(get_variant(n).title, n) for n in ui.st.names] + [(T("panel_truth"), "truth"),
                                                                 (T("panel_disagree"), "disagree")]  # fmt: skip
    ui.add("panel-picker", gr.Radio(cards, value=cards[0][1], label=T("panel_picker"), elem_id="panel-picker"))
    with gr.Row(equal_height=False, elem_id="panels"):
        ui.slot("panels")


# ---------------------------------------------------------------------------- the models' panels


def dimmed(rgb: np.ndarray) -> np.ndarray:
    """A dim grayscale copy of the photo (float, h x w x 3): the backdrop of the lesson maps."""
    gray = rgb.astype(np.float32).mean(-1, keepdims=True)
    return np.repeat(gray * DIM_SCALE + DIM_LIFT, 3, axis=-1)


def panel_picture(a: Analysis, m: ModelAnswer, opacity: float, mode: str, lang: str = "en") -> tuple[np.ndarray, str]:
    """The panel's picture and its alt text."""
    image = image_name(a, lang)
    if mode == "error map" and a.gt is not None:
        wrong = float((m.mask != a.gt).mean())
        return error_map(a.rgb, m.mask, a.gt), text(lang, "gen.alt.error_map", model=m.title, image=image, wrong=wrong)
    if mode == "mask only":
        alt = text(lang, "gen.alt.mask_only", model=m.title, image=image)
        return overlay(a.rgb, m.mask, opacity, mask_only=True), alt
    return overlay(a.rgb, m.mask, opacity), mask_alt(m.title, a, lang)


def panel(
    a: Analysis | None, name: str, opacity: float = OVERLAY_OPACITY, mode: str = "overlay", lang: str = "en"
) -> str:
    """One model's card in the Compare view: title, picture, scores, legend."""
    v = get_variant(name)
    if a is None:
        return title(name) + empty(text(lang, "gen.panel.empty", model=v.title))
    m = a.models.get(name)
    if m is None:
        return title(name) + unavailable(v.title, why_unavailable(a.unavailable.get(name)), lang)
    picture, alt = panel_picture(a, m, opacity, mode, lang)
    pet = m.class_fractions()[PET]
    said = (
        stat(text(lang, "gen.stat.forward"), ms(lang, m.ms))
        + stat(class_name(lang, "pet"), text(lang, "gen.stat.of_image", share=pet))
        + scores(m.metrics, lang)
    )
    return (
        f"{title(name)}<figure class='panel-figure'>{img_tag(picture, alt, cls='panel-img')}</figure>"
        f"{stats(said)}{legend_html(mode == 'error map' and a.gt is not None, lang)}"
    )


# ---------------------------------------------------------------------------- ground truth


def ground_truth_panel(a: Analysis | None, lang: str = "en") -> str:
    """The hand-drawn trimap of a sample over its photo, with the class shares and the legend; for
    uploads an empty state that says there is none."""
    top = head(text(lang, "gen.truth.title"), "#475569")
    if a is None:
        return top + empty(text(lang, "gen.truth.empty"))
    if a.gt is None:
        return top + empty(text(lang, "gen.truth.upload"))
    shares = np.bincount(a.gt.ravel(), minlength=len(CLASSES))[: len(CLASSES)] / a.gt.size
    pet, band = pct(shares[PET]), pct(shares[BORDER])
    alt = text(lang, "gen.alt.truth", image=image_name(a, lang), pet=pet, band=band)
    said = stats(stat(class_name(lang, PET), pet), stat(text(lang, "gen.stat.border_band"), band))
    return top + figure(overlay(a.rgb, a.gt, OVERLAY_OPACITY), alt) + said + legend_html(lang=lang)


# ---------------------------------------------------------------------------- disagreement


def disagreement_panel(a: Analysis | None, lang: str = "en") -> str:
    """A map of the pixels where the models do not all give the same label (yellow: two labels,
    magenta: three), with their count and share; works for uploads too."""
    top = head(text(lang, "gen.disagree.title"), "#fadc28")
    if a is None:
        return top + empty(text(lang, "gen.disagree.empty"))
    if len(a.models) < 2:
        return top + empty(text(lang, "gen.disagree.one"))
    d = a.disagreement  # computed once per analysis, for every view that reads it
    picture = dimmed(a.rgb)
    for k, color in ((2, TWO_LABELS), (3, THREE_LABELS)):
        picture[d.distinct == k] = color
    count, share = number(lang, d.count), pct(d.share)
    alt = text(lang, "gen.alt.disagree", n=d.models, models=plural(lang, "gen.n.models", d.models),
               image=image_name(a, lang), share=share, count=count)  # fmt: skip
    items = [stat(text(lang, "gen.stat.disagree"), text(lang, "gen.disagree.value", count=count, share=share)),
             stat(text(lang, "gen.disagree.three"), text(lang, "gen.unit.px", n=number(lang, d.three)))]  # fmt: skip
    if d.on_border is not None and d.count:
        items.append(stat(text(lang, "gen.stat.on_border"), pct(d.on_border)))
    two, three = text(lang, "gen.disagree.two"), text(lang, "gen.disagree.three")
    legend = f'<div class="legend">{_swatch(TWO_LABELS, two)}{_swatch(THREE_LABELS, three)}</div>'
    return top + figure(picture.round().astype(np.uint8), alt, fmt="png") + stats(*items) + legend


# ---------------------------------------------------------------------------- what to notice


def notice_compare(a: Analysis, lang: str = "en", **_) -> str:
    m = a.models
    scored = {n: x.metrics for n, x in m.items() if x.metrics}
    if a.gt is None or not scored:
        pet = {n: x.class_fractions()[PET] for n, x in m.items()}
        lo, hi = min(pet, key=pet.get), max(pet, key=pet.get)
        if len(m) < 2:
            return text(lang, "gen.notice.compare_one", model=m[lo].title, pet=pct(pet[lo]))
        d = a.disagreement
        return text(lang, "gen.notice.compare_upload", lo=pct(pet[lo]), lo_model=m[lo].title, hi=pct(pet[hi]),
                    hi_model=m[hi].title, n=len(m), agree=pct(1 - d.share))  # fmt: skip
    best = max(scored, key=lambda n: scored[n]["miou"])
    worst = min(scored, key=lambda n: scored[n]["miou"])
    said = text(lang, "gen.notice.compare_best", best=m[best].title, best_miou=scored[best]["miou"],
                worst=m[worst].title, worst_miou=scored[worst]["miou"])  # fmt: skip
    # The skip story: the coarsest and the finest of the models that refine one another by skips.
    fcns = skip_family(scored)
    if len(fcns) >= 2:
        c, f = fcns[0], fcns[-1]
        b0, b1 = scored[c]["border_iou"], scored[f]["border_iou"]
        if finite(b0) and finite(b1):
            key = "raises" if b1 > b0 + 0.01 else "lowers" if b1 < b0 - 0.01 else "equal"
            outline = text(lang, f"gen.notice.compare_{key}", fine=m[f].title, coarse=m[c].title, b0=b0, b1=b1)
            said = sentences(lang, said, outline)
    return said


def skip_family(names) -> list[str]:
    """The models among ``names`` that refine one another by skips (a skip net, or the net one starts
    from), coarsest first: read from the registry's skips, parents and strides."""
    refined = {v.parent for v in VARIANTS.values() if v.skips}
    family = [n for n in names if get_variant(n).skips or n in refined]
    return sorted(family, key=lambda n: -get_variant(n).output_stride)


def notice_disagreement(a: Analysis, lang: str = "en", **_) -> str:
    n = len(a.models)
    said = {"n": n, "models": plural(lang, "gen.n.models", n), "image": image_name(a, lang)}
    if n < 2:
        return text(lang, "gen.notice.disagree_one", **said)
    d = a.disagreement
    if not d.count:
        return text(lang, "gen.notice.disagree_none", **said)
    said |= {"share": pct(d.share), "count": number(lang, d.count)}
    if d.on_border is not None:
        first = text(lang, "gen.notice.disagree_band", **said, on=pct(d.on_border), band=pct(d.border_share))
    else:
        first = text(lang, "gen.notice.disagree", **said)
    if not d.odd:
        return first
    odd = text(lang, "gen.notice.disagree_odd", model=a.models[d.odd].title, share=pct(d.odd_share))
    return sentences(lang, first, odd)
