"""Pictures for the demo: overlays, error maps, legends, score heatmaps, training curves, the replay payload.

Pure numpy / PIL / matplotlib (the object API, no pyplot state, so it is safe in Gradio's worker
threads). Nothing here runs a model. matplotlib is imported where it is used: the app starts
faster without it, and the first chart pays the half second once.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fcn_demo.core import fonts, lineage
from fcn_demo.core.checkpoint import HISTORY_NAME, TrainingHistory
from fcn_demo.core.data import CLASS_COLORS, CLASSES
from fcn_demo.core.display import DIM_LIFT, DIM_SCALE
from fcn_demo.core.i18n import class_name, text
from fcn_demo.models import VARIANTS, MapSpec

PALETTE = np.array(CLASS_COLORS, dtype=np.uint8)
ERROR_COLOR = (235, 20, 60)
# One colour per model, the same in every chart and in the replay.
MODEL_COLORS = {name: v.color for name, v in VARIANTS.items()}


def colorize(mask: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 in the class colours."""
    return PALETTE[np.clip(mask, 0, len(PALETTE) - 1)]


def overlay(image: np.ndarray, mask: np.ndarray, opacity: float = 0.5, mask_only: bool = False) -> np.ndarray:
    """The class colours blended over ``image`` (H, W, 3) uint8 with ``opacity`` in [0, 1]; the
    background class is left clear so the pet stands out. ``mask_only`` shows the colours alone."""
    colors = colorize(mask)
    if mask_only:
        return colors
    a = np.full(mask.shape, float(np.clip(opacity, 0.0, 1.0)), dtype=np.float32)
    a[mask == 0] *= 0.35  # a light tint on the background keeps its colour readable, not hidden
    out = image.astype(np.float32) * (1 - a[..., None]) + colors.astype(np.float32) * a[..., None]
    return out.round().astype(np.uint8)


def error_map(image: np.ndarray, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Wrong pixels in red over a dimmed grayscale copy of ``image``; correct pixels stay dim."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {target.shape} differ in size")
    gray = image.astype(np.float32).mean(-1, keepdims=True)
    out = np.repeat(gray * DIM_SCALE + DIM_LIFT, 3, axis=-1)
    wrong = pred != target
    out[wrong] = out[wrong] * 0.15 + np.array(ERROR_COLOR, dtype=np.float32) * 0.85
    return out.round().clip(0, 255).astype(np.uint8)


def field_picture(
    image: np.ndarray,
    heat: np.ndarray,
    box: tuple[int, int, int, int],
    xy: tuple[int, int],
    color: str,
    radius: float | None = None,
) -> np.ndarray:
    """A receptive field on the photo: ``heat`` ((H, W) uint8, the effective field) as an inferno
    overlay that is clear where it is 0, the photo dimmed outside ``box`` ((top, left, bottom,
    right) inclusive: the theoretical field) and the box outlined in ``color``, a circle of
    ``radius`` pixels and a marker at the probed pixel ``xy`` = (x, y)."""
    h, w = heat.shape
    dim = np.full((h, w, 1), 0.35, dtype=np.float32)
    top, left, bottom, right = box
    dim[top : bottom + 1, left : right + 1] = 0.75
    a = heat.astype(np.float32)[..., None] / 255 * 0.85
    hot = _colormap("inferno")(heat)[..., :3].astype(np.float32) * 255
    out = image.astype(np.float32) * dim * (1 - a) + hot * a
    im = Image.fromarray(out.round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    line = max(2, round(min(h, w) / 160))
    draw.rectangle((left, top, right, bottom), outline="white", width=line + 2)
    draw.rectangle((left, top, right, bottom), outline=color, width=line)
    x, y = xy
    if radius:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline="white", width=max(1, line // 2))
    r = max(4, round(min(h, w) / 70))
    draw.ellipse((x - r, y - r, x + r, y + r), fill=color, outline="white", width=max(2, line))
    return np.asarray(im)


def _swatch(rgb: tuple[int, int, int], label: str) -> str:
    r, g, b = rgb
    return (
        f'<span class="legend-item"><span class="legend-swatch" style="background:rgb({r},{g},{b})"></span>'
        f"{html.escape(label)}</span>"
    )


def legend_html(errors: bool = False, lang: str = "en") -> str:
    """The class legend (and the error-map colour) as a small HTML strip, its words in ``lang``."""
    items = [_swatch(rgb, class_name(lang, i)) for i, rgb in enumerate(CLASS_COLORS)]
    if errors:
        items.append(_swatch(ERROR_COLOR, text(lang, "gen.legend.wrong")))
    return f'<div class="legend">{"".join(items)}</div>'


def _figure(**kwargs):
    """A matplotlib figure (object API) whose text is drawn in the shipped Noto subset (CJK, Cyrillic)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fonts.use_in_matplotlib()
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _colormap(name: str):
    from matplotlib import colormaps

    return colormaps[name]


def _fig_to_image(fig, dpi: int = 100) -> Image.Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)


def map_stride(map_hw: tuple[int, int], work_hw: tuple[int, int]) -> int:
    """The power-of-two stride of a map computed on an input of ``work_hw`` (ceil-mode pooling)."""
    return 2 ** max(0, round(math.log2(work_hw[1] / map_hw[1])))


def _font(size: int) -> ImageFont.FreeTypeFont:
    return fonts.pil(size)


def caption(lang: str, key: str, english: str) -> str:
    """A teaching map's caption (the registry's MapSpec.caption, in English) in ``lang``."""
    return text(lang, f"gen.map.{key}") if lang != "en" else english


def _colorbar(width: int, cmap: str, lo: float, hi: float, label: str) -> Image.Image:
    """A horizontal colour scale with its ends, middle and a label."""
    bar = (_colormap(cmap)(np.linspace(0, 1, width))[None, :, :3] * 255).astype(np.uint8)
    out = Image.new("RGB", (width, 40), "white")
    out.paste(Image.fromarray(np.repeat(bar, 10, axis=0)), (0, 0))
    draw, font = ImageDraw.Draw(out), _font(11)
    for x, v, anchor in ((0, lo, "la"), (width // 2, (lo + hi) / 2, "ma"), (width - 1, hi, "ra")):
        draw.text((x, 12), f"{v:+.2g}" if lo < 0 else f"{v:.2g}", fill="#333333", font=font, anchor=anchor)
    draw.text((width // 2, 26), label, fill="#333333", font=font, anchor="ma")
    return out


def wrap(draw: ImageDraw.ImageDraw, said: str, font, width: int) -> list[str]:
    """Greedy wrap to ``width`` pixels: at spaces, and between any two characters of a word too wide
    for a line (Chinese writes no spaces: a sentence is one such word)."""
    lines, line = [], ""
    for word in said.split():
        sep = " " if line else ""
        if draw.textlength(f"{line}{sep}{word}", font=font) <= width:
            line = f"{line}{sep}{word}"
            continue
        if line and draw.textlength(word, font=font) <= width:
            lines.append(line)
            line = word
            continue
        line += sep  # too wide for any line: broken where the width runs out
        for ch in word:
            if line.strip() and draw.textlength(line + ch, font=font) > width:
                lines.append(line.rstrip())
                line = ""
            line += ch
    return [*lines, line] if line else lines


def heatmap_tiles(
    image_hw: tuple[int, int], n_maps: int, titled: bool = True, slots: int = 5, panel: int = 280
) -> tuple[tuple[int, int], list[tuple[int, int, int, int]]]:
    """Where :func:`heatmaps` draws: the picture's (width, height), and each map's tile (x, y, w, h)
    in its pixels (the linked views mark a chosen pixel in every tile)."""
    h_img, w_img = image_hw
    s = panel / max(h_img, w_img)
    pw, ph = max(1, round(w_img * s)), max(1, round(h_img * s))
    pad, head, title_h = 12, 50, 26 if titled else 4
    size = (max(slots, n_maps) * (panel + pad) + pad, title_h + head + panel + 46)
    y0 = title_h + head + (panel - ph) // 2
    return size, [(pad + i * (panel + pad) + (panel - pw) // 2, y0, pw, ph) for i in range(n_maps)]


def heatmaps(
    image: np.ndarray,
    maps: list[tuple[MapSpec, np.ndarray]],
    work_hw: tuple[int, int],
    cls: int,
    probability: bool = True,
    title: str = "",
    slots: int = 5,
    panel: int = 280,
    lang: str = "en",
) -> Image.Image:
    """One row of heatmaps, one per ``(spec, scores)`` (the registry's MapSpec: caption, whether it
    is added to a sum); scores are (C, h, w) at their own stride.

    Every map cell is drawn as a solid square (nearest-neighbour, nothing smoothed) over a faint
    copy of the image, so the stride-32 blockiness is shown as it is. ``probability`` shows the
    softmax of class ``cls``; additive contributions (``score_pool4``, ``score_pool3``) have no
    probability and always show raw scores on a diverging scale centred at 0. The row always has
    ``slots`` panels (unused ones blank), so rows of different models line up column by column.
    Its words (captions, scales) are in ``lang``.
    Returned as a 256-colour palette image: text, colour bars and cells stay sharp (no JPEG ringing)
    and it PNG-encodes ~10x faster and ~7x smaller than the RGB original.
    """
    (width, height), tiles = heatmap_tiles(image.shape[:2], len(maps), bool(title), slots, panel)
    pw, ph = tiles[0][2:] if tiles else (1, 1)
    gray = np.asarray(Image.fromarray(image).convert("L").resize((pw, ph), Image.BILINEAR), dtype=np.float32)
    gray = gray[..., None] * 0.55 + 255 * 0.2
    pad, title_h = 12, 26 if title else 4
    out = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(out)
    if title:
        draw.text((pad, 4), title, fill="#111111", font=_font(17))
    for i, (spec, scores) in enumerate(maps):
        said, additive = caption(lang, spec.key, spec.caption), spec.additive
        stride = map_stride(scores.shape[-2:], work_hw)
        mh, mw = scores.shape[-2:]
        named = class_name(lang, cls)
        if probability and not additive:
            data, cmap, lo, hi = _softmax(scores)[cls], "viridis", 0.0, 1.0
            label = text(lang, "gen.fig.prob", cls=named)
        else:
            data = scores[cls]
            lim = float(np.abs(data).max()) or 1.0
            cmap, lo, hi = "RdBu_r", -lim, lim
            label = text(lang, "gen.fig.score_added" if additive else "gen.fig.score", cls=named)
        rgb = _colormap(cmap)(np.clip((data - lo) / (hi - lo), 0, 1))[..., :3] * 255
        # Cell (i, j) covers working pixels [i*stride, (i+1)*stride); with ceil-mode pooling the
        # last cells overhang the image, so index cells by pixel and crop.
        ys = np.minimum((np.arange(ph) + 0.5) / ph * work_hw[0] // stride, mh - 1).astype(int)
        xs = np.minimum((np.arange(pw) + 0.5) / pw * work_hw[1] // stride, mw - 1).astype(int)
        cells = rgb[ys[:, None], xs[None, :]]
        tile = (cells * 0.8 + gray * 0.2).clip(0, 255).astype(np.uint8)
        x0 = pad + i * (panel + pad)
        cells_said = text(lang, "gen.fig.cells", h=mh, w=mw, stride=stride)
        lines = "\n".join([*wrap(draw, said, _font(12), panel)[:2], cells_said])
        draw.multiline_text((x0, title_h), lines, fill="#222222", font=_font(12), spacing=3)
        out.paste(Image.fromarray(tile), tiles[i][:2])
        out.paste(_colorbar(panel, cmap, lo, hi, label), (x0, tiles[i][1] - (panel - ph) // 2 + panel + 4))
    return out.quantize(256, method=Image.Quantize.FASTOCTREE)


def _epochs(history: TrainingHistory, key: str) -> tuple[list[int], list[float]]:
    rows = [r for r in history.epochs if getattr(r, key) is not None]
    return [r.epoch for r in rows], [getattr(r, key) for r in rows]


# Charts are drawn for a phone first (issue 24, item 6): a phone shows a picture about 300 px wide,
# so each chart is CHART_W inches wide at CHART_DPI (380 px, shown at that size on a desk) and has
# no text under SMALL_PT points (CHART_TEXT_PX = 15 px), which stays at least 11 px on the phone.
CHART_DPI, CHART_W, SMALL_PT = 100, 3.8, 11
CHART_TEXT_PX = int(SMALL_PT * CHART_DPI / 72)


def _chart_axes(ax, title: str, xlabel: str = "", ylabel: str = "") -> None:
    """A chart's title, labels and ticks at the charts' sizes; the title wraps to the figure."""
    ax.set_title(title, fontsize=SMALL_PT + 1, wrap=True)
    ax.set_xlabel(xlabel, fontsize=SMALL_PT)
    ax.set_ylabel(ylabel, fontsize=SMALL_PT)
    ax.tick_params(labelsize=SMALL_PT)
    ax.grid(alpha=0.3)


def _legend_below(ax, under: float = -0.22, ncols: int = 2) -> None:
    """The legend under the axes (``under``: its top, in axes heights), off the curves."""
    ax.legend(fontsize=SMALL_PT, ncols=ncols, loc="upper center", bbox_to_anchor=(0.5, under), frameon=False)


def training_curves(
    histories: Mapping[str, TrainingHistory | dict], titles: dict[str, str] | None = None, lang: str = "en"
) -> tuple[Image.Image, Image.Image]:
    """(loss, mIoU): loss (train solid, val dashed) and validation mIoU per epoch for every model,
    two charts that sit side by side on a desk and stack on a phone; the mIoU on the
    out-of-distribution photos dotted, where the history records it.

    ``histories``: model name -> :class:`TrainingHistory`, or the dict of a history.json; its words in ``lang``."""
    titles = titles or {}
    figs = [_figure(figsize=(CHART_W, 4.4), layout="constrained") for _ in range(2)]
    ax_loss, ax_miou = (f.subplots() for f in figs)
    any_ood, later = False, [0.1]
    for name, hist in histories.items():
        hist = hist if isinstance(hist, TrainingHistory) else TrainingHistory.from_dict(hist)
        later += [v for key in ("train_loss", "val_loss") for e, v in zip(*_epochs(hist, key)) if e >= 1]
        color = MODEL_COLORS.get(name, "#444444")
        label = titles.get(name, name)
        ax_loss.plot(*_epochs(hist, "train_loss"), color=color, lw=2, label=label)
        ax_loss.plot(*_epochs(hist, "val_loss"), color=color, lw=1.5, ls="--")
        ax_miou.plot(*_epochs(hist, "val_miou"), color=color, lw=2, marker="o", ms=3, label=label)
        xs, ys = _epochs(hist, "ood_miou")
        if xs:
            any_ood = True
            ax_miou.plot(xs, ys, color=color, lw=1.5, ls=":")
        ax_miou.plot([hist.best_epoch], [hist.best.val_miou], marker="*", ms=12, color=color, mec="black", mew=0.5)
    epoch = text(lang, "gen.fig.epoch")
    _chart_axes(ax_loss, text(lang, "gen.fig.loss_title"), epoch, text(lang, "gen.fig.cross_entropy"))
    # As in the replay: a fresh head's epoch-0 loss can be several times larger and would flatten
    # every later epoch at a phone's height, so the axis fits epochs 1 on and clips epoch 0.
    ax_loss.set_ylim(0, 1.1 * max(later))
    if any_ood:  # one legend entry for all the dotted curves
        ax_miou.plot([], [], color="#444444", lw=1.5, ls=":", label=text(lang, "gen.fig.unseen"))
    _chart_axes(ax_miou, text(lang, "gen.fig.miou_title"), epoch, "mIoU")
    ax_miou.set_ylim(0, 1)
    _legend_below(ax_loss)
    _legend_below(ax_miou, ncols=1 if any_ood else 2)  # the dotted curves' long label needs a line of its own
    loss, miou = (_fig_to_image(f, dpi=CHART_DPI) for f in figs)
    return loss, miou


def iou_bars(metrics: dict, lang: str = "en") -> Image.Image:
    """Grouped bars of per-class IoU per model from a ``metrics.json`` dict, its words in ``lang``."""
    models = metrics["models"]
    classes = metrics.get("classes", list(CLASSES))
    fig = _figure(figsize=(CHART_W, 4.6), layout="constrained")
    ax = fig.subplots()
    width = 0.84 / max(1, len(models))
    for i, (name, m) in enumerate(models.items()):
        xs = np.arange(len(classes)) + (i - (len(models) - 1) / 2) * width
        bars = ax.bar(xs, m["iou"], width, label=m.get("title", name), color=MODEL_COLORS.get(name, "#888888"))
        # Upright labels would overlap at a phone's width: they stand along their bars.
        ax.bar_label(bars, fmt="%.2f", fontsize=SMALL_PT, padding=2, rotation=90)
    split = metrics.get("split", "test")
    title = text(lang, "gen.fig.iou_title") if split == "test" else text(lang, "gen.fig.iou_title_split", split=split)
    _chart_axes(ax, title, ylabel="IoU")
    ax.set_xticks(np.arange(len(classes)), [class_name(lang, c) for c in classes])
    ax.set_ylim(0, 1.3)  # room for the labels above the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.grid(axis="x", visible=False)
    _legend_below(ax, under=-0.1)
    return _fig_to_image(fig, dpi=CHART_DPI)


def _data_uri(source: Path | bytes, mime: str) -> str:
    """A data URI of a file's bytes (a path) or of the bytes themselves."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def replay_payload(folders: dict[str, tuple[str, Path]]) -> dict | None:
    """Everything the browser needs to replay training without asking the server again.

    ``folders`` maps a model name to (title, checkpoint folder holding history.json,
    replay_images.jpg and replay_masks.png). Models without those files are left out; returns None
    when none has them.
    """
    models, strips = [], {}
    for name, (title, folder) in folders.items():
        if folder is None:
            continue
        folder = Path(folder)
        files = [folder / f for f in (HISTORY_NAME, "replay_images.jpg", "replay_masks.png")]
        if not all(f.exists() for f in files):
            continue
        hist = TrainingHistory.read(folder)
        keep = ("epoch", "train_loss", "val_loss", "val_miou", "val_pixel_acc", "val_iou", "elapsed_s", "ood_miou")
        rows, best, sprite = lineage.replay_rows(folder, [{k: getattr(r, k) for k in keep} for r in hist.epochs],
                                                 hist.best_epoch)  # fmt: skip
        strip = _data_uri(files[1], "image/jpeg")
        strip_id = strips.setdefault(strip, len(strips))
        models.append(
            {
                "name": name,
                "title": title,
                "color": MODEL_COLORS.get(name, "#444444"),
                "best_epoch": best,
                "parent": VARIANTS[name].parent if name in VARIANTS else None,
                "epochs": rows,
                "images": hist.replay_images,
                "strip": strip_id,
                "masks": _data_uri(files[2] if sprite is None else sprite, "image/png"),
            }
        )
    if not models:
        return None
    return {
        "classes": list(CLASSES),
        "colors": [f"rgb{tuple(c)}" for c in CLASS_COLORS],
        "tile": 128,
        "strips": list(strips),
        "models": models,
    }
