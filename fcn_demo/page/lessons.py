"""The page's lessons: ground truth, where the models disagree, their confidence, the learned
upsampling, confusion matrices and a "what to notice" line computed from the current image.

Like :mod:`fcn_demo.page.views`, every function here turns data into an HTML string: an
:class:`~fcn_demo.request.analysis.Analysis` (or None, before the first image), metrics.json's dict, or
the loaded models' upsampling weights. No model runs here and nothing here knows Gradio; the
upsampling lesson applies ``conv_transpose2d`` to the weights alone, once at start-up. Every
picture has alt text that names the model and the image. Every function takes ``lang`` (one of
fcn_demo.core.i18n.LOCALES, English by default) and writes its words in that language.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from fcn_demo.core.data import CLASSES
from fcn_demo.core.i18n import class_name, join_and, listing, number, plural, sentences, text
from fcn_demo.core.metrics import ConfusionMatrix, image_metrics
from fcn_demo.models import VARIANTS
from fcn_demo.models.fcn import bilinear_kernel
from fcn_demo.page.views import _stat, _title, empty, image_name, img_tag
from fcn_demo.page.viz import _colormap, _fig_to_image, _figure, _swatch, legend_html, map_stride, overlay
from fcn_demo.request.analysis import Analysis, ModelAnswer

BORDER = CLASSES.index("border")
PET = CLASSES.index("pet")
# Confidence is the winning class's softmax probability: at least 1/3 with three classes (a tie).
CONF_LOW = 1 / len(CLASSES)
CONF_CMAP = "viridis"  # perceptually uniform and colour-blind safe: dark = unsure, yellow = sure
UNSURE = 0.5  # below this no class holds a majority of the probability at that pixel
# Disagreement map colours: two labels compete (yellow), all three do (magenta); both stand out on
# the dimmed photo and neither is a class colour (the pet is orange, the border cyan).
TWO_LABELS, THREE_LABELS = (250, 220, 40), (192, 38, 211)
# A flat score map that comes out of the 2x upsampling with more than this ripple (max - min over
# the four stride phases, relative to their size) shows a visible checkerboard.
RIPPLE_VISIBLE = 0.05
# Confusion cells shade from white to this blue; the text is black or white, whichever contrasts more.
CONFUSION_BLUE = (30, 64, 175)
NOTICE_VIEWS = ("compare", "maps", "ablation", "confidence", "disagreement")


# ---------------------------------------------------------------------------- small shared pieces


def _pct(x: float) -> str:
    """A share as the page says it: one decimal below 10%, none above."""
    return f"{x:.1%}" if abs(x) < 0.1 else f"{x:.0%}"


def _head(text: str, color: str) -> str:
    """A card title like the model panels' (views._title), for cards that are not one model's."""
    return f'<div class="panel-title"><i style="background:{color}"></i>{html.escape(text)}</div>'


def _figure_html(picture: np.ndarray | Image.Image, alt: str, fmt: str = "jpeg") -> str:
    return f"<figure class='panel-figure'>{img_tag(picture, alt, fmt=fmt, cls='panel-img')}</figure>"


def _stats(*items: str) -> str:
    return f'<div class="panel-stats">{"".join(items)}</div>'


def _card(body: str) -> str:
    """One card among several in a lesson's grid (single cards get their class from the app)."""
    return f'<div class="panel lesson-card">{body}</div>'


def _grid(cards: list[str], label: str) -> str:
    return f'<div class="lesson-grid" data-image="{html.escape(label)}">{"".join(cards)}</div>'


def _dimmed(rgb: np.ndarray) -> np.ndarray:
    """A dim grayscale copy of the photo (float, h x w x 3): the backdrop of the lesson maps."""
    gray = rgb.astype(np.float32).mean(-1, keepdims=True)
    return np.repeat(gray * 0.45 + 40, 3, axis=-1)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


# ---------------------------------------------------------------------------- 1. ground truth


def ground_truth_panel(a: Analysis | None, lang: str = "en") -> str:
    """The hand-drawn trimap of a sample over its photo, with the class shares and the legend; for
    uploads an empty state that says there is none."""
    head = _head(text(lang, "gen.truth.title"), "#475569")
    if a is None:
        return head + empty(text(lang, "gen.truth.empty"))
    if a.gt is None:
        return head + empty(text(lang, "gen.truth.upload"))
    shares = np.bincount(a.gt.ravel(), minlength=len(CLASSES))[: len(CLASSES)] / a.gt.size
    pet, band = _pct(shares[PET]), _pct(shares[BORDER])
    alt = text(lang, "gen.alt.truth", image=image_name(a, lang), pet=pet, band=band)
    stats = _stats(_stat(class_name(lang, PET), pet), _stat(text(lang, "gen.stat.border_band"), band))
    return head + _figure_html(overlay(a.rgb, a.gt, 0.55), alt) + stats + legend_html(lang=lang)


# ---------------------------------------------------------------------------- 2. disagreement


def disagreement(a: Analysis) -> dict:
    """Where the models' masks differ: per pixel the number of distinct labels, the counts, the
    model that is most often the odd one out and, with ground truth, how much sits on the border band."""
    names = list(a.models)
    stack = np.stack([a.models[n].mask for n in names])
    votes = np.stack([(stack == c).sum(0) for c in range(len(CLASSES))])
    distinct = (votes > 0).sum(0)
    differ = distinct > 1
    count = int(differ.sum())
    majority = votes.argmax(0)
    odd = {n: int(((stack[i] != majority) & differ).sum()) for i, n in enumerate(names)}
    out = {
        "models": len(names),
        "distinct": distinct,
        "count": count,
        "share": count / differ.size,
        "three": int((distinct > 2).sum()),
        "odd": max(odd, key=odd.get) if count and len(names) > 2 else None,
        "odd_share": max(odd.values()) / count if count else 0.0,
        "on_border": None,
        "border_share": None,
    }
    if a.gt is not None:
        band = a.gt == BORDER
        out["border_share"] = float(band.mean())
        out["on_border"] = float(band[differ].mean()) if count else 0.0
    return out


def disagreement_panel(a: Analysis | None, lang: str = "en") -> str:
    """A map of the pixels where the models do not all give the same label (yellow: two labels,
    magenta: three), with their count and share; works for uploads too."""
    head = _head(text(lang, "gen.disagree.title"), "#fadc28")
    if a is None:
        return head + empty(text(lang, "gen.disagree.empty"))
    if len(a.models) < 2:
        return head + empty(text(lang, "gen.disagree.one"))
    d = disagreement(a)
    picture = _dimmed(a.rgb)
    for k, color in ((2, TWO_LABELS), (3, THREE_LABELS)):
        picture[d["distinct"] == k] = color
    count, share = number(lang, d["count"]), _pct(d["share"])
    alt = text(lang, "gen.alt.disagree", n=d["models"], models=plural(lang, "gen.n.models", d["models"]),
               image=image_name(a, lang), share=share, count=count)  # fmt: skip
    stats = [_stat(text(lang, "gen.stat.disagree"), text(lang, "gen.disagree.value", count=count, share=share)),
             _stat(text(lang, "gen.disagree.three"), text(lang, "gen.unit.px", n=number(lang, d["three"])))]  # fmt: skip
    if d["on_border"] is not None and d["count"]:
        stats.append(_stat(text(lang, "gen.stat.on_border"), _pct(d["on_border"])))
    two, three = text(lang, "gen.disagree.two"), text(lang, "gen.disagree.three")
    legend = f'<div class="legend">{_swatch(TWO_LABELS, two)}{_swatch(THREE_LABELS, three)}</div>'
    return head + _figure_html(picture.round().astype(np.uint8), alt, fmt="png") + _stats(*stats) + legend


# ---------------------------------------------------------------------------- 3. confidence


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
        f'<div class="lesson-scale-labels"><span>{html.escape(text(lang, "gen.confidence.low", low=CONF_LOW))}</span>'
        f"<span>{html.escape(text(lang, 'gen.confidence.high'))}</span></div></div>"
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
            cards.append(_card(_title(name) + empty(text(lang, "gen.confidence.not_loaded"))))
            continue
        s = confidence_stats(m, a.gt)
        said = {"model": m.title, "image": image_name(a, lang), "mean": s["mean"]}
        stats = [_stat(text(lang, "gen.stat.mean"), f"{s['mean']:.2f}"),
                 _stat(text(lang, "gen.stat.below", unsure=UNSURE), _pct(s["unsure"]))]  # fmt: skip
        if _finite(s["border"]):
            alt = text(lang, "gen.alt.confidence_band", **said, band=s["border"], elsewhere=s["elsewhere"])
            stats += [_stat(text(lang, "gen.stat.border_band"), f"{s['border']:.2f}"),
                      _stat(text(lang, "gen.stat.elsewhere"), f"{s['elsewhere']:.2f}")]  # fmt: skip
        else:
            alt = text(lang, "gen.alt.confidence", **said)
        picture = _confidence_picture(a.rgb, m.confidence)
        cards.append(_card(_title(name) + _figure_html(picture, alt) + _stats(*stats) + _confidence_scale(lang)))
    intro = f'<p class="lesson-intro">{html.escape(text(lang, "gen.confidence.intro", low=CONF_LOW))}</p>'
    return intro + _grid(cards, a.label)


# ---------------------------------------------------------------------------- 4. the upsampling lesson


def upsample(weight: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """What an FCN's learned 2x upsampling (ConvTranspose2d(k=4, stride 2, padding 1)) makes of
    ``scores`` (1, C, h, w): the same operation, applied to the weights alone."""
    return F.conv_transpose2d(scores, weight, stride=2, padding=1)


def one_cell(weight: torch.Tensor, cls: int, cells: int = 5) -> np.ndarray:
    """The upsampled map of class ``cls`` when a single score cell (the centre one) is 1."""
    x = torch.zeros(1, weight.shape[0], cells, cells)
    x[0, cls, cells // 2, cells // 2] = 1
    return upsample(weight, x)[0, cls].numpy()


def flat_response(weight: torch.Tensor, cls: int, cells: int = 6) -> np.ndarray:
    """The upsampled map of class ``cls`` when every score cell is 1, away from the edges."""
    x = torch.zeros(1, weight.shape[0], cells, cells)
    x[0, cls] = 1
    return upsample(weight, x)[0, cls, 2:-2, 2:-2].numpy()


def ripple(weight: torch.Tensor, cls: int) -> float:
    """How unevenly a flat score map comes out: (max - min) / (|max| + |min|) over the four stride
    phases (the output pixels at even/odd rows and columns). 0 is flat (bilinear gives exactly 0);
    anything above :data:`RIPPLE_VISIBLE` is a visible 2x2 pattern, up to 1 where phases change sign."""
    r = flat_response(weight, cls)
    phases = np.array([r[i::2, j::2].mean() for i in (0, 1) for j in (0, 1)])
    spread = float(phases.max() - phases.min())
    size = float(abs(phases.max()) + abs(phases.min()))
    return spread / size if size > 0 else 0.0


def kernel_report(weight: torch.Tensor) -> list[dict]:
    """Per class: the learned diagonal kernel, its change from bilinear, its largest cross-class
    tap (what other classes' scores add to this one) and the ripple of a flat score map."""
    weight = weight.detach().float().cpu()
    c = weight.shape[0]
    bil = bilinear_kernel(c, weight.shape[-1])[0, 0].numpy()
    off = weight.clone()
    off[range(c), range(c)] = 0
    rows = []
    for k in range(c):
        kern = weight[k, k].numpy()
        rows.append({
            "cls": CLASSES[k] if k < len(CLASSES) else str(k),
            "kernel": kern,
            "diff": kern - bil,
            "change": float(np.abs(kern - bil).max()),
            "cross": float(off[k].abs().max()) if c > 1 else 0.0,
            "ripple": ripple(weight, k),
        })  # fmt: skip
    return rows


def _ripple_words(r: float, lang: str = "en") -> str:
    return text(lang, "gen.upsampling.checkerboard" if r > RIPPLE_VISIBLE else "gen.upsampling.flat", ripple=r)


def _panel(
    ax, data: np.ndarray, lo: float, hi: float, title: str = "", xlabel: str = "", numbers: bool = False
) -> None:
    """One small picture of the kernel figure: ``data`` on a diverging scale, optionally with its values."""
    ax.imshow(data, cmap="RdBu_r", vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if numbers:
        lim = max(abs(lo), abs(hi))
        for (i, j), v in np.ndenumerate(data):
            text = f"{v:.2f}".replace("-0.00", "0.00")
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 * lim else "black")


def _kernel_figure(weight: torch.Tensor, rows: list[dict], title: str) -> Image.Image:
    """Rows: bilinear (the initialisation), then each class's learned kernel. Columns: the 4x4
    kernel, its change from bilinear, one score cell upsampled, a flat score map upsampled."""
    from matplotlib.patches import Rectangle

    c = weight.shape[0]
    bil = bilinear_kernel(c, weight.shape[-1])
    fig = _figure(figsize=(7.2, 1.7 * (len(rows) + 1) + 0.5), layout="constrained")
    fig.suptitle(title, fontsize=10)
    axes = fig.subplots(len(rows) + 1, 4, squeeze=False)
    lim = max(0.8, *(float(np.abs(r["kernel"]).max()) for r in rows))
    dlim = max(0.05, *(float(np.abs(r["diff"]).max()) for r in rows))
    heads = ["4x4 kernel", f"minus bilinear (±{dlim:.2f})", "one score cell in", "flat scores in (±25%)"]
    entries = [("bilinear (init)", bil[0, 0].numpy(), None, bil, 0)]
    entries += [(f"learned: {r['cls']}", r["kernel"], r["diff"], weight.detach().float().cpu(), k) for k, r in enumerate(rows)]  # fmt: skip
    for i, (ax_row, (label, kern, diff, w, k)) in enumerate(zip(axes, entries)):
        top = heads if i == 0 else [""] * 4
        _panel(ax_row[0], kern, -lim, lim, top[0], numbers=True)
        ax_row[0].set_ylabel(label, fontsize=8)
        if diff is None:
            _panel(ax_row[1], np.zeros_like(kern), -dlim, dlim, top[1], "the starting point")
        else:
            _panel(ax_row[1], diff, -dlim, dlim, top[1], numbers=True)
        # The cell's own 2x2 output pixels (dashed): what spills outside them is the kernel's overlap.
        _panel(ax_row[2], one_cell(w, k), -lim, lim, top[2], "dashed: the cell's own 2x2")
        ax_row[2].add_patch(Rectangle((3.5, 3.5), 2, 2, fill=False, ec="black", lw=1.2, ls="--"))
        flat = flat_response(w, k)
        _panel(ax_row[3], flat / (float(flat.mean()) or 1.0), 0.75, 1.25, top[3], f"ripple {ripple(w, k):.1%}")
    return _fig_to_image(fig, dpi=90)


def _table(caption: str, head: list[str], rows: list[tuple[str, list[str]]], cls: str = "data") -> str:
    """An accessible table: a caption, column headers, and per row a header cell and its ``<td>``s."""
    th = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    body = "".join(f'<tr><th scope="row">{html.escape(r)}</th>{"".join(tds)}</tr>' for r, tds in rows)
    return (
        f'<table class="{cls}"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    )


def upsampling_lesson(models: Mapping[str, nn.Module], lang: str = "en") -> str:
    """FCN-16s's and FCN-8s's learned 2x upsampling kernels beside the bilinear kernel they started
    from, their difference, what each makes of one score cell and of a flat score map, and whether
    a checkerboard appears. Static: computed once from the weights (call it at start-up; the
    figures, whose own words stay English, are drawn once for every language)."""
    found = [
        (name, pool, up.weight)
        for name, model in models.items()
        if model is not None and isinstance(getattr(model, "upscore", None), nn.ModuleDict)
        for pool, up in model.upscore.items()
    ]
    if not found:
        return empty(text(lang, "gen.upsampling.empty"))
    parts, verdicts = [], []
    for name, pool, weight in found:
        v = VARIANTS.get(name)
        stride = next((s.stride for s in v.maps if s.key == f"score_{pool}"), None) if v else None
        title = v.title if v else name
        where = _where(lang, title, pool, stride)
        rows = kernel_report(weight)
        verdicts += [(where, r) for r in rows]
        said = [{"cls": class_name(lang, r["cls"]), "change": r["change"], "ripple": _ripple_words(r["ripple"], lang)}
                for r in rows]  # fmt: skip
        per_class = listing(lang, (text(lang, "gen.upsampling.alt_class", **d) for d in said), strong=True)
        alt = text(lang, "gen.alt.upsampling", where=where, classes=per_class)
        head = [text(lang, f"gen.upsampling.{k}") for k in ("class", "change", "cross", "flat_out")]
        body = [(class_name(lang, r["cls"]), [f"<td>{r['change']:.3f}</td><td>{r['cross']:.3f}</td>"
                                              f"<td>{html.escape(_ripple_words(r['ripple'], lang))}</td>"]) for r in rows]  # fmt: skip
        table = _table(where, head, body)
        picture = _kernel_picture(weight, rows, _where("en", title, pool, stride))
        parts.append(_card(f"{_title(name) if name in VARIANTS else ''}{_figure_html(picture, alt, 'png')}"
                           f'<div class="data-wrap" tabindex="0">{table}</div>'))  # fmt: skip
    return f'<div class="lesson-upsampling">{_upsampling_summary(verdicts, lang)}{"".join(parts)}</div>'


def _where(lang: str, title: str, pool: str, stride: int | None) -> str:
    """Which upsampling ("FCN-16s's 2x upsampling before adding pool4 (stride 32 to 16)")."""
    if stride is None:
        return text(lang, "gen.upsampling.where", model=title, pool=pool)
    return text(lang, "gen.upsampling.where_stride", model=title, pool=pool, coarse=2 * stride, fine=stride)


_PICTURES: dict[tuple[bytes, str], Image.Image] = {}  # the kernel figures drawn so far (a few, at start-up)


def _kernel_picture(weight: torch.Tensor, rows: list[dict], title: str) -> Image.Image:
    """:func:`_kernel_figure`, drawn once per weights and title (every language shows the same figure)."""
    key = (weight.detach().float().cpu().numpy().tobytes(), title)
    if key not in _PICTURES:
        if len(_PICTURES) > 16:
            _PICTURES.clear()
        _PICTURES[key] = _kernel_figure(weight, rows, title)
    return _PICTURES[key]


def _upsampling_summary(verdicts: list[tuple[str, dict]], lang: str = "en") -> str:
    where, worst = max(verdicts, key=lambda v: v[1]["ripple"])
    _, moved = max(verdicts, key=lambda v: v[1]["change"])
    rippled = [v for v in verdicts if v[1]["ripple"] > RIPPLE_VISIBLE]
    n = len(verdicts)
    start = text(lang, "gen.upsampling.summary", n=n, kernels=plural(lang, "gen.n.kernels", n), change=moved["change"])
    cls = class_name(lang, worst["cls"])
    if rippled:
        k = len(rippled)
        verdict = text(lang, "gen.upsampling.rippled", k=k, make=plural(lang, "gen.n.make", k), where=where, cls=cls,
                       ripple=worst["ripple"])  # fmt: skip
    else:
        verdict = text(lang, "gen.upsampling.smooth", ripple=worst["ripple"], where=where, cls=cls)
    return f'<p class="lesson-intro">{html.escape(sentences(lang, start, verdict))}</p>'


# ---------------------------------------------------------------------------- 5. confusion matrices


def _luminance(rgb: tuple[float, float, float]) -> float:
    def lin(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG contrast ratio of two RGB colours (1 to 21)."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def cell_colors(value: float) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(background, text) of a confusion cell holding ``value`` in [0, 1]: white to blue, and black
    or white text, whichever contrasts more (at least 4.58:1 for any background)."""
    v = float(np.clip(value, 0, 1))
    bg = tuple(round(255 + (c - 255) * v) for c in CONFUSION_BLUE)
    text = max(((0, 0, 0), (255, 255, 255)), key=lambda t: contrast(bg, t))
    return bg, text


def confusion_table(
    counts: np.ndarray | list, caption: str, classes: tuple[str, ...] = CLASSES, lang: str = "en"
) -> str:
    """A row-normalised confusion matrix (rows: ground truth) as an accessible HTML table."""
    m = np.asarray(counts, dtype=np.float64)
    totals = m.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(totals > 0, m / totals, np.nan)
    rows = []
    for i, cls in enumerate(classes):
        cells = []
        for j, v in enumerate(rates[i]):
            if not math.isfinite(v):
                cells.append(f'<td class="na">{html.escape(text(lang, "gen.confusion.no_pixels"))}</td>')
                continue
            (br, bg, bb), (tr, tg, tb) = cell_colors(v)
            diag = " diag" if i == j else ""
            cells.append(
                f'<td class="cm{diag}" style="background:rgb({br},{bg},{bb});color:rgb({tr},{tg},{tb})">{v:.1%}</td>'
            )
        rows.append((class_name(lang, cls), cells))
    head = [text(lang, "gen.confusion.corner"), *(class_name(lang, c) for c in classes)]
    return _table(caption, head, rows, cls="data confusion")


def _confusion_section(title: str, tables: list[str]) -> str:
    # tabindex: a table wider than a phone scrolls, and a keyboard must be able to scroll it too.
    wrapped = "".join(f'<div class="data-wrap" tabindex="0">{t}</div>' for t in tables)
    return f'<div class="lesson-head">{html.escape(title)}</div><div class="confusion-grid">{wrapped}</div>'


def _split_tables(section: dict, where: str, lang: str = "en") -> list[str]:
    classes = tuple(section.get("classes", CLASSES))
    return [
        confusion_table(m["confusion"], f"{m.get('title', n)} · {where}", classes, lang)
        for n, m in section.get("models", {}).items()
        if m.get("confusion") is not None
    ]


def confusion_tables(metrics: dict | None, a: Analysis | None = None, lang: str = "en") -> str:
    """Per model the row-normalised 3x3 confusion on the test split (and on the out-of-distribution
    photos when evaluated), from metrics.json's counts; and the current sample's, when ``a`` has
    ground truth. Each row says where the pixels of one true class went."""
    parts = [f'<p class="lesson-intro">{html.escape(text(lang, "gen.confusion.intro"))}</p>']
    test = _split_tables(metrics, text(lang, "gen.confusion.test"), lang) if metrics else []
    if test:
        parts.append(_confusion_section(text(lang, "gen.confusion.test_head", n=metrics.get("images", "?")), test))
    else:
        why = text(lang, "gen.confusion.not_evaluated" if not metrics else "gen.confusion.predates")
        parts.append(empty(text(lang, "gen.confusion.none", why=why)))
    ood = (metrics or {}).get("ood") or {}
    section = {"classes": metrics.get("classes", CLASSES), **ood} if ood else {}
    ood_tables = _split_tables(section, text(lang, "gen.confusion.unseen"), lang) if ood else []
    if ood_tables:
        parts.append(_confusion_section(text(lang, "gen.confusion.ood_head", n=ood.get("images", "?")), ood_tables))
    if a is not None and a.gt is None:
        parts.append(f'<p class="muted">{html.escape(text(lang, "gen.confusion.upload"))}</p>')
    elif a is not None:
        mine = [
            confusion_table(ConfusionMatrix(len(CLASSES)).update(m.mask, a.gt).mat, f"{m.title} · {a.label}", lang=lang)
            for m in a.models.values()
        ]
        parts.append(_confusion_section(text(lang, "gen.confusion.sample_head", image=a.label), mine))
    return f'<div class="lesson-confusion">{"".join(parts)}</div>'


# ---------------------------------------------------------------------------- 6. what to notice


def _notice_compare(a: Analysis, lang: str = "en", **_) -> str:
    m = a.models
    scored = {n: x.metrics for n, x in m.items() if x.metrics}
    if a.gt is None or not scored:
        pet = {n: x.class_fractions()[PET] for n, x in m.items()}
        lo, hi = min(pet, key=pet.get), max(pet, key=pet.get)
        if len(m) < 2:
            return text(lang, "gen.notice.compare_one", model=m[lo].title, pet=_pct(pet[lo]))
        d = disagreement(a)
        return text(lang, "gen.notice.compare_upload", lo=_pct(pet[lo]), lo_model=m[lo].title, hi=_pct(pet[hi]),
                    hi_model=m[hi].title, n=len(m), agree=_pct(1 - d["share"]))  # fmt: skip
    best = max(scored, key=lambda n: scored[n]["miou"])
    worst = min(scored, key=lambda n: scored[n]["miou"])
    said = text(lang, "gen.notice.compare_best", best=m[best].title, best_miou=scored[best]["miou"],
                worst=m[worst].title, worst_miou=scored[worst]["miou"])  # fmt: skip
    fcns = [n for n in ("fcn32s", "fcn16s", "fcn8s") if n in scored]
    if len(fcns) >= 2:
        c, f = fcns[0], fcns[-1]
        b0, b1 = scored[c]["border_iou"], scored[f]["border_iou"]
        if _finite(b0) and _finite(b1):
            key = "raises" if b1 > b0 + 0.01 else "lowers" if b1 < b0 - 0.01 else "equal"
            outline = text(lang, f"gen.notice.compare_{key}", fine=m[f].title, coarse=m[c].title, b0=b0, b1=b1)
            said = sentences(lang, said, outline)
    return said


def _cells_to_pixels(scores: np.ndarray, work_hw: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """A map's winning class per display pixel, one square per cell (as the maps view draws it)."""
    stride = map_stride(scores.shape[-2:], work_hw)
    mh, mw = scores.shape[-2:]
    h, w = size
    ys = np.minimum((np.arange(h) + 0.5) / h * work_hw[0] // stride, mh - 1).astype(int)
    xs = np.minimum((np.arange(w) + 0.5) / w * work_hw[1] // stride, mw - 1).astype(int)
    return scores.astype(np.float32).argmax(0)[ys[:, None], xs[None, :]].astype(np.uint8)


def _notice_maps(a: Analysis, lang: str = "en", **_) -> str:
    with_maps = [n for n in ("fcn8s", "fcn16s", "unet", "fcn32s") if n in a.models and len(a.models[n].maps) >= 2]
    name = with_maps[0] if with_maps else next((n for n in a.models if a.models[n].maps), None)
    image = image_name(a, lang)
    if name is None:
        return text(lang, "gen.notice.maps_none", image=image)
    m = a.models[name]
    specs = [s for s in VARIANTS[name].maps if s.key in m.maps and not s.additive]
    coarse, fine = m.maps[specs[0].key], m.maps[specs[-1].key]
    what = specs[0].caption.split(" (")[0].removesuffix(" alone")  # "pool5", "bottleneck"
    layer = text(lang, f"gen.layer.{what}") if what == "bottleneck" else what
    (ch, cw), (fh, fw) = coarse.shape[-2:], fine.shape[-2:]
    alone = _cells_to_pixels(coarse, a.work_size, a.size)
    said = {"layer": layer, "model": m.title, "image": image, "ch": ch, "cw": cw}
    if len(specs) > 1:
        grid = text(lang, "gen.notice.maps_grid_finest", **said, fh=fh, fw=fw, ratio=fh * fw / (ch * cw))
    else:
        grid = text(lang, "gen.notice.maps_grid", **said)
    said["changed"] = _pct(float((alone != m.mask).mean()))
    if a.gt is not None and m.metrics:
        alone_miou = image_metrics(alone, a.gt)["miou"]
        differs = text(lang, "gen.notice.maps_differs_miou", **said, alone=alone_miou, full=m.metrics["miou"])
    else:
        differs = text(lang, "gen.notice.maps_differs", **said)
    return sentences(lang, grid, differs)


def _notice_ablation(a: Analysis, drops: Mapping[str, tuple[str, ...]] | None = None, lang: str = "en", **_) -> str:
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
                         share=_pct(float((mask != m.mask).mean())), miou=miou))  # fmt: skip
    return sentences(lang, *said) or text(lang, "gen.notice.ablation_none", image=image_name(a, lang))


def _span(values) -> str:
    lo, hi = f"{min(values):.2f}", f"{max(values):.2f}"
    return lo if lo == hi else f"{lo}–{hi}"


def _notice_confidence(a: Analysis, lang: str = "en", **_) -> str:
    stats = {n: confidence_stats(m, a.gt) for n, m in a.models.items() if m.confidence is not None}
    image = image_name(a, lang)
    if not stats:
        return text(lang, "gen.notice.confidence_none", image=image)
    t = {n: a.models[n].title for n in stats}
    on = {n: s["border"] for n, s in stats.items() if _finite(s["border"])}
    if on:
        off = {n: stats[n]["elsewhere"] for n in on}
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
    low, high = min(stats, key=lambda n: stats[n]["mean"]), max(stats, key=lambda n: stats[n]["mean"])
    said = {"low": t[low], "image": image, "mean": stats[low]["mean"], "unsure": _pct(stats[low]["unsure"])}
    if f"{stats[high]['mean']:.2f}" != f"{stats[low]['mean']:.2f}":
        first = text(lang, "gen.notice.confidence_least_surest", **said, high=t[high], high_mean=stats[high]["mean"])
    else:
        first = text(lang, "gen.notice.confidence_least", **said)
    unsure = a.models[low].confidence.astype(np.float32) / 255 < UNSURE
    if len(a.models) > 1 and unsure.any():
        differ = disagreement(a)["distinct"] > 1
        share = _pct(float(differ[unsure].mean()))
        return sentences(lang, first, text(lang, "gen.notice.confidence_unsure_disagree", share=share))
    return first


def _notice_disagreement(a: Analysis, lang: str = "en", **_) -> str:
    n = len(a.models)
    said = {"n": n, "models": plural(lang, "gen.n.models", n), "image": image_name(a, lang)}
    if n < 2:
        return text(lang, "gen.notice.disagree_one", **said)
    d = disagreement(a)
    if not d["count"]:
        return text(lang, "gen.notice.disagree_none", **said)
    said |= {"share": _pct(d["share"]), "count": number(lang, d["count"])}
    if d["on_border"] is not None:
        first = text(lang, "gen.notice.disagree_band", **said, on=_pct(d["on_border"]), band=_pct(d["border_share"]))
    else:
        first = text(lang, "gen.notice.disagree", **said)
    if not d["odd"]:
        return first
    odd = text(lang, "gen.notice.disagree_odd", model=a.models[d["odd"]].title, share=_pct(d["odd_share"]))
    return sentences(lang, first, odd)


_NOTICES: dict[str, Callable[..., str]] = {
    "compare": _notice_compare,
    "maps": _notice_maps,
    "ablation": _notice_ablation,
    "confidence": _notice_confidence,
    "disagreement": _notice_disagreement,
}


def notice(view: str, a: Analysis | None, lang: str = "en", **kw) -> str:
    """One or two sentences under ``view`` (one of :data:`NOTICE_VIEWS`), computed from the current
    image's numbers, in ``lang``; "" before the first image. ``ablation`` takes ``drops``: model name
    -> the skips switched off now (default: all, said as "would change")."""
    if view not in _NOTICES:
        raise ValueError(f"unknown view {view!r}; valid: {', '.join(NOTICE_VIEWS)}")
    if a is None or not a.models:
        return ""
    said = _NOTICES[view](a, lang=lang, **kw)
    head = html.escape(text(lang, "gen.notice.head"))
    return f'<p class="notice" data-view="{view}"><b>{head}</b> {html.escape(said)}</p>'
