"""The Lessons tab's second lesson: FCN-16s's and FCN-8s's learned 2x upsampling kernels beside the
bilinear kernel they started from, what each makes of one score cell and of a flat score map, and
whether a checkerboard appears. Computed from the weights alone (``conv_transpose2d``), once."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from fcn_demo.core.data import CLASSES
from fcn_demo.core.i18n import class_name, listing, plural, sentences, text
from fcn_demo.models import VARIANTS
from fcn_demo.models.fcn import bilinear_kernel
from fcn_demo.page.html import card, empty, escape, figure, table, title
from fcn_demo.page.viz import CHART_DPI, CHART_TEXT_PX, CHART_W, SMALL_PT, _fig_to_image, _figure

# A flat score map that comes out of the 2x upsampling with more than this ripple (max - min over
# the four stride phases, relative to their size) shows a visible checkerboard.
RIPPLE_VISIBLE = 0.05


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
    ax.set_title(title, fontsize=SMALL_PT, wrap=True)
    ax.set_xlabel(xlabel, fontsize=SMALL_PT, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    if numbers:
        lim = max(abs(lo), abs(hi))
        for (i, j), v in np.ndenumerate(data):
            # No leading zero (".19", "-.02"): four values a row stay apart at a phone's width.
            said = f"{v:.2f}".replace("-0.00", "0.00")
            said = said[1:] if said.startswith("0.") else said.replace("-0.", "-.", 1)
            color = "white" if abs(v) > 0.6 * lim else "black"
            ax.text(j, i, said, ha="center", va="center", fontsize=SMALL_PT, color=color)


def _kernel_figure(weight: torch.Tensor, rows: list[dict], title: str, lang: str = "en") -> Image.Image:
    """One block of four pictures per row: bilinear (the initialisation), then each class's learned
    kernel; in a block the 4x4 kernel, its change from bilinear, one score cell upsampled and a flat
    score map upsampled. Two pictures a line, the figure drawn for a phone's width (viz.CHART_W);
    its words in ``lang``."""
    from matplotlib.patches import Rectangle

    c = weight.shape[0]
    bil = bilinear_kernel(c, weight.shape[-1])
    fig = _figure(figsize=(CHART_W, 4.3 * (len(rows) + 1) + 0.6), layout="constrained")
    fig.suptitle(title, fontsize=SMALL_PT + 1, wrap=True)
    blocks = fig.subfigures(len(rows) + 1, 1)
    lim = max(0.8, *(float(np.abs(r["kernel"]).max()) for r in rows))
    dlim = max(0.05, *(float(np.abs(r["diff"]).max()) for r in rows))
    heads = [text(lang, "gen.fig.kernel"), text(lang, "gen.fig.minus_bilinear", d=dlim), text(lang, "gen.fig.one_cell"),
             text(lang, "gen.fig.flat_in")]  # fmt: skip
    entries = [(text(lang, "gen.fig.bilinear"), bil[0, 0].numpy(), None, bil, 0)]
    entries += [(text(lang, "gen.fig.learned", cls=class_name(lang, r["cls"])), r["kernel"], r["diff"],
                 weight.detach().float().cpu(), k) for k, r in enumerate(rows)]  # fmt: skip
    for block, (label, kern, diff, w, k) in zip(blocks, entries):
        block.suptitle(label, fontsize=SMALL_PT + 1)
        ax = block.subplots(2, 2).ravel()
        _panel(ax[0], kern, -lim, lim, heads[0], numbers=True)
        if diff is None:
            _panel(ax[1], np.zeros_like(kern), -dlim, dlim, heads[1], text(lang, "gen.fig.starting_point"))
        else:
            _panel(ax[1], diff, -dlim, dlim, heads[1], numbers=True)
        # The cell's own 2x2 output pixels (dashed): what spills outside them is the kernel's overlap.
        _panel(ax[2], one_cell(w, k), -lim, lim, heads[2], text(lang, "gen.fig.own_cells"))
        ax[2].add_patch(Rectangle((3.5, 3.5), 2, 2, fill=False, ec="black", lw=1.2, ls="--"))
        flat = flat_response(w, k)
        said = text(lang, "gen.fig.ripple", ripple=ripple(w, k))
        _panel(ax[3], flat / (float(flat.mean()) or 1.0), 0.75, 1.25, heads[3], said)
    return _fig_to_image(fig, dpi=CHART_DPI)


def upsampling_lesson(models: Mapping[str, nn.Module], lang: str = "en") -> str:
    """FCN-16s's and FCN-8s's learned 2x upsampling kernels beside the bilinear kernel they started
    from, their difference, what each makes of one score cell and of a flat score map, and whether
    a checkerboard appears. Static: computed once from the weights (the figures are drawn once per
    language)."""
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
        named = v.title if v else name
        where = _where(lang, named, pool, stride)
        rows = kernel_report(weight)
        verdicts += [(where, r) for r in rows]
        said = [{"cls": class_name(lang, r["cls"]), "change": r["change"], "ripple": _ripple_words(r["ripple"], lang)}
                for r in rows]  # fmt: skip
        per_class = listing(lang, (text(lang, "gen.upsampling.alt_class", **d) for d in said), strong=True)
        alt = text(lang, "gen.alt.upsampling", where=where, classes=per_class)
        head = [text(lang, f"gen.upsampling.{k}") for k in ("class", "change", "cross", "flat_out")]
        body = [[class_name(lang, r["cls"]), f"{r['change']:.3f}", f"{r['cross']:.3f}",
                 escape(_ripple_words(r["ripple"], lang))] for r in rows]  # fmt: skip
        grid = table(where, head, body, row_header=True)
        picture = _kernel_picture(weight, rows, where, lang)
        parts.append(card(f"{title(name) if name in VARIANTS else ''}{figure(picture, alt, 'png', text_px=CHART_TEXT_PX)}"
                           f'<div class="data-wrap" tabindex="0">{grid}</div>'))  # fmt: skip
    return f'<div class="lesson-upsampling">{_upsampling_summary(verdicts, lang)}{"".join(parts)}</div>'


def _where(lang: str, title: str, pool: str, stride: int | None) -> str:
    """Which upsampling ("FCN-16s's 2x upsampling before adding pool4 (stride 32 to 16)")."""
    if stride is None:
        return text(lang, "gen.upsampling.where", model=title, pool=pool)
    return text(lang, "gen.upsampling.where_stride", model=title, pool=pool, coarse=2 * stride, fine=stride)


_PICTURES: dict[tuple[bytes, str, str], Image.Image] = {}  # the kernel figures drawn so far (a few per language)


def _kernel_picture(weight: torch.Tensor, rows: list[dict], title: str, lang: str = "en") -> Image.Image:
    """:func:`_kernel_figure`, drawn once per weights, title and language."""
    key = (weight.detach().float().cpu().numpy().tobytes(), title, lang)
    if key not in _PICTURES:
        if len(_PICTURES) > 32:
            _PICTURES.clear()
        _PICTURES[key] = _kernel_figure(weight, rows, title, lang)
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
    return f'<p class="lesson-intro">{escape(sentences(lang, start, verdict))}</p>'
