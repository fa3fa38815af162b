"""The Maps tab: every model's teaching maps (its score maps at their own strides, from the
registry's MapSpecs), one row a model, coloured as a class's probability or raw score."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from fcn_demo.core.data import CLASSES
from fcn_demo.core.i18n import class_name, listing, sentences, text, translations
from fcn_demo.core.metrics import image_metrics
from fcn_demo.models import get_variant
from fcn_demo.page.compare import skip_family
from fcn_demo.page.html import empty, escape, img_tag
from fcn_demo.page.layout import T
from fcn_demo.page.parts import image_name, pct
from fcn_demo.page.state import MAPS_VIEWS, Settings
from fcn_demo.page.viz import caption, heatmap_tiles, heatmaps, map_stride
from fcn_demo.request.analysis import Analysis


def layout(ui) -> None:
    gr.Markdown(T("maps_text"))
    with gr.Row():
        ui.add("cls", gr.Radio([(T(f"class_{c}"), i) for i, c in enumerate(CLASSES)], value=Settings.cls,
                               label=T("class"), elem_id="cls"))  # fmt: skip
        words = [(T("maps_probability"), MAPS_VIEWS[0]), (T("maps_raw"), MAPS_VIEWS[1])]
        ui.add("prob", gr.Radio(words, value=Settings.maps, label=T("show"), elem_id="prob", info=T("maps_info")))
    ui.slot("maps")
    ui.slot("maps-architecture")


# A map is drawn as its own tile, shown at its drawn size: a row of a model's maps wraps, one tile
# a line on a phone, so its text (the colour bar's numbers: 11 px, viz._colorbar) is never shrunk.
TILE = 208  # px: a map's square in its tile (the tile is 24 px wider: its margins; five fit a desk's 1192 px)
TEXT_PX = 11  # px: the smallest text a tile draws


def skip_maps(a: Analysis | None, names: list[str], cls: int, probability: bool, lang: str = "en") -> str:
    """Every model's teaching maps, one figure a model, one tile a map at the map's own stride
    (``data-model`` and ``data-map`` name them: the drawn architecture's blocks open them); the
    pictures' words, their alt texts and the figures' captions in ``lang``."""
    if a is None:
        return empty(text(lang, "gen.maps.empty"))
    rows = []
    what = text(lang, "gen.maps.probability" if probability else "gen.maps.raw")
    for name in names:
        m = a.models.get(name)
        if m is None:
            continue
        v = get_variant(name)
        tiles = []
        for s in v.maps:
            if s.key not in m.maps:
                continue
            picture = heatmaps(a.rgb, [(s, m.maps[s.key].astype(np.float32))], a.work_size, cls, probability,
                               slots=1, panel=TILE, lang=lang)  # fmt: skip
            alt = text(lang, "gen.alt.map", model=v.title, image=image_name(a, lang), cls=class_name(lang, cls),
                       what=what, caption=caption(lang, s.key, s.caption))  # fmt: skip
            # where the map sits in its tile's picture (the linked views mark a chosen pixel there)
            (pw, ph), ((x, y, w, h),) = heatmap_tiles(a.rgb.shape[:2], 1, False, slots=1, panel=TILE)
            where = f"{x / pw:.5f},{y / ph:.5f},{w / pw:.5f},{h / ph:.5f}"
            img = img_tag(picture, alt, fmt="png", cls="heatmap-img", text_px=TEXT_PX, data={"tiles": where})
            tiles.append(f'<div class="heatmap-tile" data-map="{escape(s.key)}">{img}</div>')
        rows.append(f'<figure class="heatmap-row" data-model="{escape(name)}"><figcaption>{escape(v.title)}'
                    f'</figcaption><div class="heatmap-tiles">{"".join(tiles)}</div></figure>')  # fmt: skip
    return f'<div class="heatmaps" data-image="{escape(a.label)}">{"".join(rows)}</div>'


def row(a: Analysis, name: str, cls: int, probability: bool, lang: str = "en") -> tuple[Image.Image, str]:
    """Model ``name``'s row of teaching maps (its picture, words in ``lang``) and the row's alt text."""
    m, v = a.models[name], get_variant(name)
    maps = [(s, m.maps[s.key].astype(np.float32)) for s in v.maps if s.key in m.maps]
    picture = heatmaps(a.rgb, maps, a.work_size, cls, probability, v.title, lang=lang)
    alt = text(lang, "gen.alt.maps", model=v.title, image=image_name(a, lang), cls=class_name(lang, cls),
               what=text(lang, "gen.maps.probability" if probability else "gen.maps.raw"),
               captions=listing(lang, (caption(lang, s.key, s.caption) for s in v.maps), strong=True))  # fmt: skip
    return picture, alt


def cells_to_pixels(scores: np.ndarray, work_hw: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """A map's winning class per display pixel, one square per cell (as the maps view draws it)."""
    stride = map_stride(scores.shape[-2:], work_hw)
    mh, mw = scores.shape[-2:]
    h, w = size
    ys = np.minimum((np.arange(h) + 0.5) / h * work_hw[0] // stride, mh - 1).astype(int)
    xs = np.minimum((np.arange(w) + 0.5) / w * work_hw[1] // stride, mw - 1).astype(int)
    return scores.astype(np.float32).argmax(0)[ys[:, None], xs[None, :]].astype(np.uint8)


def notice_maps(a: Analysis, lang: str = "en", **_) -> str:
    # The finest skip net tells the story best, then any model with more than one map.
    family = skip_family(a.models)[::-1]
    with_maps = [n for n in [*family, *(n for n in a.models if n not in family)] if len(a.models[n].maps) >= 2]
    name = with_maps[0] if with_maps else next((n for n in a.models if a.models[n].maps), None)
    image = image_name(a, lang)
    if name is None:
        return text(lang, "gen.notice.maps_none", image=image)
    m = a.models[name]
    specs = [s for s in get_variant(name).maps if s.key in m.maps and not s.additive]
    coarse, fine = m.maps[specs[0].key], m.maps[specs[-1].key]
    what = specs[0].layer or specs[0].key  # "pool5", "bottleneck"
    layer = text(lang, f"gen.layer.{what}") if f"gen.layer.{what}" in translations()["en"] else what
    (ch, cw), (fh, fw) = coarse.shape[-2:], fine.shape[-2:]
    alone = cells_to_pixels(coarse, a.work_size, a.size)
    said = {"layer": layer, "model": m.title, "image": image, "ch": ch, "cw": cw,
            "stride": map_stride(coarse.shape[-2:], a.work_size)}  # fmt: skip
    if len(specs) > 1:
        grid = text(lang, "gen.notice.maps_grid_finest", **said, fh=fh, fw=fw, ratio=fh * fw / (ch * cw))
    else:
        grid = text(lang, "gen.notice.maps_grid", **said)
    said["changed"] = pct(float((alone != m.mask).mean()))
    if a.gt is not None and m.metrics:
        alone_miou = image_metrics(alone, a.gt)["miou"]
        differs = text(lang, "gen.notice.maps_differs_miou", **said, alone=alone_miou, full=m.metrics["miou"])
        # The Ablation tab's "every skip off" is the same scores upsampled smoothly: say both numbers.
        smooth = m.ablation_metrics.get(tuple(sorted(get_variant(name).skips)))
        if smooth:
            differs = sentences(lang, differs, text(lang, "gen.notice.maps_smooth", layer=layer,
                                                    smooth=smooth["miou"], alone=alone_miou))  # fmt: skip
    else:
        differs = text(lang, "gen.notice.maps_differs", **said)
    return sentences(lang, grid, differs)
