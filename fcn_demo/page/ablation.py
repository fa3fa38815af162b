"""The Ablation tab: each skip net with some of its skips switched off (the registry's skips, one
switch each), beside the model without skips, and what that changed."""

from __future__ import annotations

from collections.abc import Mapping

import gradio as gr

from fcn_demo.core.display import OVERLAY_OPACITY
from fcn_demo.core.i18n import join_and, listing, sentences, switch_key, text
from fcn_demo.core.metrics import image_metrics
from fcn_demo.models import VARIANTS, get_variant
from fcn_demo.page.html import empty, escape, figure, title
from fcn_demo.page.layout import T
from fcn_demo.page.parts import image_name, mask_alt, pct, unavailable
from fcn_demo.page.viz import overlay
from fcn_demo.request.analysis import Analysis


def layout(ui) -> None:
    """One column per skip net (its switches over its mask), then the reference, then the notice."""
    gr.Markdown(T("ablation_text"))
    with gr.Row(equal_height=False, elem_id="ablation-row"):
        for name in (n for n in ui.st.names if VARIANTS[n].skips):
            with gr.Column(scale=2, min_width=260):
                with gr.Row():
                    for p in VARIANTS[name].skips:
                        ui.add(f"skip-{name}-{p}", gr.Checkbox(True, label=T(switch_key(name, p)), min_width=120,
                                                               elem_id=f"skip-{name}-{p}"))  # fmt: skip
                ui.place(f"ablate-{name}")
        with gr.Column(scale=1, min_width=220):
            ui.slot("ablation-reference")
    ui.slot("ablation")


def ablation(a: Analysis | None, name: str, drops: tuple[str, ...], lang: str = "en") -> str:
    """A skip net's mask with ``drops`` switched off, and what that changed."""
    v = get_variant(name)
    if a is None:
        return title(name) + empty(text(lang, "gen.ablate.empty"))
    m = a.models.get(name)
    if m is None:
        return title(name) + unavailable(v.title, None, lang)
    mask = m.ablated(drops)
    off = listing(lang, drops) or text(lang, "gen.ablate.nothing")
    alt = text(lang, "gen.alt.ablated", model=v.title, image=image_name(a, lang), off=off)
    changed = float((mask != m.mask).mean())
    line = text(lang, "gen.ablate.line", off=f"<b>{escape(off)}</b>", changed=changed)
    if a.gt is not None and m.metrics:
        mi = (m.ablation_metrics.get(tuple(sorted(drops))) or image_metrics(mask, a.gt)) if drops else m.metrics
        full = m.metrics["miou"]
        line += " · " + text(
            lang, "gen.ablate.miou", miou=f"<b>{mi['miou']:.3f}</b>", full=full, delta=mi["miou"] - full
        )
    return f'{title(name)}{figure(overlay(a.rgb, mask, OVERLAY_OPACITY), alt)}<div class="ablate-stats">{line}</div>'


def reference(a: Analysis | None, name: str, lang: str = "en") -> str:
    """The model without skips, for comparison beside the ablation."""
    v = get_variant(name)
    said = f'<div class="muted">{escape(text(lang, "gen.ablate.reference"))}</div>'
    if a is None or name not in a.models:
        return title(name) + said
    return (
        f"{title(name)}{said}{figure(overlay(a.rgb, a.models[name].mask, OVERLAY_OPACITY), mask_alt(v.title, a, lang))}"
    )


def notice_ablation(a: Analysis, drops: Mapping[str, tuple[str, ...]] | None = None, lang: str = "en", **_) -> str:
    """``drops``: model name -> the skips switched off now (default: all of them)."""
    said = []
    for name, m in a.models.items():
        skips = VARIANTS[name].skips if name in VARIANTS else ()
        if not skips or not m.ablations:
            continue
        now = tuple(sorted(p for p in (drops or {}).get(name, ()) if p in skips))
        off, key = (now, "gen.notice.ablation_now") if now else (tuple(sorted(skips)), "gen.notice.ablation_would")
        mask = m.ablated(off)
        miou = ""
        if a.gt is not None and m.metrics:
            mi = (m.ablation_metrics.get(off) or image_metrics(mask, a.gt))["miou"]
            miou = text(lang, "gen.notice.ablation_miou", full=m.metrics["miou"], ablated=mi)
        said.append(text(lang, key, model=m.title, skips=join_and(lang, [p for p in skips if p in off]),
                         share=pct(float((mask != m.mask).mean())), miou=miou))  # fmt: skip
    return sentences(lang, *said) or text(lang, "gen.notice.ablation_none", image=image_name(a, lang))
