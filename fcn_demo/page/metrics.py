"""The Metrics tab: the test-split table (and the out-of-distribution one), per-class IoU bars and
training curves (drawn on the tab's first visit), where each model's weights came from, and the
row-normalised confusion matrices. The page's one metrics-table builder, :func:`metrics_table`, is
here; the exercise's score table uses it too."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import gradio as gr
import numpy as np

from fcn_demo.core import lineage
from fcn_demo.core.data import CLASSES, REPO_ROOT
from fcn_demo.core.i18n import class_name, text
from fcn_demo.core.metrics import ConfusionMatrix
from fcn_demo.models import VARIANTS, get_variant
from fcn_demo.page.html import empty, escape, img_tag, table
from fcn_demo.page.parts import why_unavailable
from fcn_demo.request.analysis import Analysis

# Confusion cells shade from white to this blue; the text is black or white, whichever contrasts more.
CONFUSION_BLUE = (30, 64, 175)
# The test table's score columns after the model: (the phrase key of its header, the metrics key).
TABLE_SCORES = (("gen.th.pixel_acc", "pixel_acc"), ("gen.th.mean_acc", "mean_acc"), (None, "miou"), (None, "fwiou"))
SCORE_HEADS = {"miou": "mIoU", "fwiou": "FW IoU"}  # the same in every language


def layout(ui) -> None:
    st = ui.st
    ui.slot("metrics")
    # Charts as inline pictures with alt text (gr.Image wraps its picture in an unnamed button).
    ui.add("iou-bars", gr.HTML(visible=bool(st.metrics), elem_id="iou-bars"))
    ui.add("curves", gr.HTML(visible=bool(st.histories), elem_id="curves"))
    ui.slot("metrics-after")


def charts(st) -> Callable[..., tuple[str, str]]:
    """``draw(lang=) -> (bars, curves)``: the per-class IoU bars and the training curves in ``lang``,
    drawn on a language's first call (matplotlib is imported then), reused after."""
    drawn: dict[str, tuple[str, str]] = {}

    def draw(lang: str = "en") -> tuple[str, str]:
        if lang not in drawn:
            from fcn_demo.page.viz import CHART_TEXT_PX, iou_bars, training_curves

            def chart(picture, alt: str) -> str:
                return img_tag(picture, alt, "png", cls="chart-img", text_px=CHART_TEXT_PX)

            # Earlier rounds first, as in the replay (fcn_demo.core.lineage).
            histories = {n: lineage.joined_history(st.loaded[n].folder, asdict(h)) for n, h in st.histories.items()}
            titles = {n: VARIANTS[n].title for n in st.names}
            alts = [text(lang, "gen.fig.loss_title"), text(lang, "gen.fig.miou_title")]
            curves = zip(training_curves(histories, titles, lang), alts) if st.histories else ()
            group = escape(text(lang, "gen.alt.curves"), quote=True)
            drawn[lang] = (
                chart(iou_bars(st.metrics, lang), text(lang, "gen.alt.iou_bars")) if st.metrics else "",
                f'<div class="charts" role="group" aria-label="{group}">{"".join(chart(p, a) for p, a in curves)}</div>'
                if st.histories else "",
            )  # fmt: skip
        return drawn[lang]

    return draw


def read_metrics(folders: list) -> dict | None:
    """metrics.json beside the model folders (or in the repo's checkpoints/)."""
    for p in [Path(f).parent / "metrics.json" for f in folders if f is not None] + [
        REPO_ROOT / "checkpoints" / "metrics.json"
    ]:
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return None


def metrics_table(caption: str, rows: Sequence[tuple[str, dict]], columns: Sequence[tuple[str, Callable]],
                  who: str, row_header: bool = True) -> str:  # fmt: skip
    """Models' (or anyone's) scores as a table: one row per (name, metrics dict), one column per
    (header, ``value(metrics) -> float``), three decimals; ``who`` heads the names' column."""
    body = [[escape(name) if not row_header else name, *(f"{float(get(m)):.3f}" for _, get in columns)]
            for name, m in rows]  # fmt: skip
    return table(caption, [who, *(h for h, _ in columns)], body, row_header=row_header)


def metrics_tables(metrics: dict | None, lang: str = "en") -> str:
    """The test-split table and, when evaluated, the out-of-distribution one."""
    if not metrics:
        return empty(text(lang, "gen.metrics.empty"))
    classes = metrics.get("classes", CLASSES)
    columns = [(text(lang, k) if k else SCORE_HEADS[v], lambda m, v=v: m[v]) for k, v in TABLE_SCORES]
    columns += [
        (text(lang, "gen.th.iou", cls=class_name(lang, c)), lambda m, i=i: m["iou"][i]) for i, c in enumerate(classes)
    ]

    def of(section: dict, caption: str) -> str:
        rows = [(m.get("title", n), m) for n, m in section["models"].items()]
        return metrics_table(caption, rows, columns, text(lang, "gen.th.model"), row_header=False)

    out = of(metrics, text(lang, "gen.metrics.test", n=metrics.get("images", "?")))
    ood = metrics.get("ood")
    if ood and ood.get("models"):
        out += of(ood, text(lang, "gen.metrics.ood", n=ood.get("images", "?")))
    return out


# ---------------------------------------------------------------------------- where the weights came from


def weights_source(source: str, lang: str = "en") -> str:
    """Where a model's weights came from, in words for a student (no settings, no error codes)."""
    if source.startswith("Hub "):
        return escape(text(lang, "gen.source.hub", repo=source[4:].split(" (")[0]))
    if source.startswith("embedded"):
        return escape(text(lang, "gen.source.embedded"))
    return escape(source.split(" (")[0])


def _in_round(epoch: int, n: int, lang: str) -> str:
    return text(lang, "gen.provenance.in_round", value=epoch, round=n) if n > 1 else str(epoch)


def provenance(loaded: dict, histories: dict, lang: str = "en") -> str:
    """Where each model's weights came from and how it was trained: the one place that says so."""
    rows = []
    for name, m in loaded.items():
        h = histories.get(name)
        wall = h.summary.get("wall_time_s") if h else None
        n = lineage.round_of(m.folder)  # a later round's epochs count from its own start
        rows.append([
            escape(get_variant(name).title),
            weights_source(m.source, lang) if m.model is not None
            else escape(text(lang, "gen.provenance.unavailable", why=why_unavailable(m.error))),
            _in_round(h.best_epoch, n, lang) if h else "–",
            _in_round(h.epochs[-1].epoch, n, lang) if h else "–",
            text(lang, "gen.unit.min", min=wall / 60) if wall else "–",
        ])  # fmt: skip
    head = [text(lang, "gen.th.model")] + [
        text(lang, f"gen.provenance.{k}") for k in ("source", "saved", "epochs", "time")
    ]
    return table(text(lang, "gen.provenance.caption"), head, rows)


# ---------------------------------------------------------------------------- confusion matrices


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
                cells.append(f'<td class="na">{escape(text(lang, "gen.confusion.no_pixels"))}</td>')
                continue
            (br, bg, bb), (tr, tg, tb) = cell_colors(v)
            diag = " diag" if i == j else ""
            cells.append(
                f'<td class="cm{diag}" style="background:rgb({br},{bg},{bb});color:rgb({tr},{tg},{tb})">{v:.1%}</td>'
            )
        rows.append([class_name(lang, cls), *cells])
    head = [text(lang, "gen.confusion.corner"), *(class_name(lang, c) for c in classes)]
    return table(caption, head, rows, row_header=True, cls="data confusion")


def _confusion_section(title: str, tables: list[str]) -> str:
    # tabindex: a table wider than a phone scrolls, and a keyboard must be able to scroll it too.
    wrapped = "".join(f'<div class="data-wrap" tabindex="0">{t}</div>' for t in tables)
    return f'<div class="lesson-head">{escape(title)}</div><div class="confusion-grid">{wrapped}</div>'


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
    parts = [f'<p class="lesson-intro">{escape(text(lang, "gen.confusion.intro"))}</p>']
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
        parts.append(f'<p class="muted">{escape(text(lang, "gen.confusion.upload"))}</p>')
    elif a is not None:
        mine = [
            confusion_table(ConfusionMatrix(len(CLASSES)).update(m.mask, a.gt).mat, f"{m.title} · {a.label}", lang=lang)
            for m in a.models.values()
        ]
        parts.append(_confusion_section(text(lang, "gen.confusion.sample_head", image=a.label), mine))
    return f'<div class="lesson-confusion">{"".join(parts)}</div>'
