"""What each part of the page shows for an :class:`~fcn_demo.pipeline.Analysis`, as HTML and pictures.

No model runs here and nothing here knows Gradio: a view takes an analysis (or None, before the
first image) plus the view's settings and returns an HTML string. Pictures are inlined as data
URLs in ``<img>`` tags, each with alt text that says what it shows ("FCN-8s mask of Bengal_193
over the photo"), so screen readers can tell the panels apart. The UI, the API and bench/speed.py
all call these.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from .data import CLASS_COLORS, CLASSES, REPO_ROOT
from .metrics import image_metrics
from .models import get_variant
from .pipeline import Analysis, ModelAnswer
from .probe import MASS, ModelProbe, Probe
from .viz import error_map, field_picture, heatmaps, legend_html, overlay

VIEW_MODES = ("overlay", "mask only", "error map")
SCORE_LABELS = (("pixel acc", "pixel_acc"), ("mIoU", "miou"), ("border IoU", "border_iou"))


def img_tag(picture: np.ndarray | Image.Image, alt: str, fmt: str = "jpeg", cls: str = "") -> str:
    """An ``<img>`` with the picture inlined (JPEG for photos, PNG for charts and palettes)."""
    im = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.convert("RGB").save(buf, "JPEG", quality=88)
    else:
        im.save(buf, "PNG", optimize=False)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="{cls}" src="data:image/{fmt};base64,{data}" alt="{html.escape(alt, quote=True)}">'


def _title(name: str) -> str:
    v = get_variant(name)
    return f'<div class="panel-title"><i style="background:{v.color}"></i>{html.escape(v.title)}</div>'


def _stat(key: str, value: str) -> str:
    return f'<span class="stat"><span class="k">{key}</span> <b>{value}</b></span>'


def _scores(metrics: dict | None) -> str:
    if not metrics:
        return ""
    return "".join(_stat(k, f"{metrics[v]:.3f}") for k, v in SCORE_LABELS)


def empty(what: str) -> str:
    """An empty state that says what to do."""
    return f'<div class="empty">{html.escape(what)}</div>'


def panel_picture(a: Analysis, m: ModelAnswer, opacity: float, mode: str) -> tuple[np.ndarray, str]:
    """The panel's picture and its alt text."""
    if mode == "error map" and a.gt is not None:
        wrong = float((m.mask != a.gt).mean())
        return error_map(a.rgb, m.mask, a.gt), f"{m.title} error map of {a.label}: {wrong:.0%} of pixels wrong, in red"
    if mode == "mask only":
        return overlay(a.rgb, m.mask, opacity, mask_only=True), f"{m.title} mask of {a.label}, class colours only"
    return overlay(a.rgb, m.mask, opacity), f"{m.title} mask of {a.label} over the photo"


def panel(a: Analysis | None, name: str, opacity: float = 0.55, mode: str = "overlay") -> str:
    """One model's card in the Compare view: title, picture, scores, legend."""
    v = get_variant(name)
    if a is None:
        return _title(name) + empty(f"{v.title}'s mask appears here: pick a sample or upload a photo.")
    m = a.models.get(name)
    if m is None:
        why = why_unavailable(a.unavailable.get(name))
        return (
            _title(name) + f'<div class="panel-missing">{html.escape(v.title)} is unavailable: {html.escape(why)}</div>'
        )
    picture, alt = panel_picture(a, m, opacity, mode)
    pet = m.class_fractions()[CLASSES.index("pet")]
    stats = _stat("forward", f"{m.ms:.0f} ms") + _stat("pet", f"{pet:.0%} of image") + _scores(m.metrics)
    return (
        f"{_title(name)}<figure class='panel-figure'>{img_tag(picture, alt, cls='panel-img')}</figure>"
        f'<div class="panel-stats">{stats}</div>{legend_html(errors=mode == "error map" and a.gt is not None)}'
    )


def status(a: Analysis | None) -> str:
    """The line under the input: what was segmented, how, and what to watch out for."""
    if a is None:
        return (
            '<div class="status muted">Pick a sample or upload a photo: the four models segment it side by side.</div>'
        )
    h, w = a.original_size
    what = (
        f"sample <b>{html.escape(a.sample)}</b> (test split, with ground truth)"
        if a.sample
        else "your photo (no ground truth, so no scores)"
    )
    how = (
        "already segmented a moment ago, shown from the cache (no model ran)"
        if a.cached
        else f"{len(a.models)} models in {a.ms:.0f} ms"
    )
    notes = list(a.notes)
    if a.no_pet():
        notes.insert(
            0,
            "None of the four models found a pet here. They only know cats and dogs; "
            "other things get labelled background (or, at times, wrongly as pet).",
        )
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        f'<div class="status" data-image="{html.escape(a.label)}" data-sample="{html.escape(a.sample or "")}">'
        f"Segmented {what} · {w}x{h} px · {how}"
        f"{f'<ul class=notes>{items}</ul>' if items else ''}</div>"
    )


def skip_maps(a: Analysis | None, names: list[str], cls: int, probability: bool) -> str:
    """Every model's teaching maps, one row a model, at each map's own stride."""
    if a is None:
        return empty("The skip-layer maps appear here once an image is segmented: pick a sample or upload a photo.")
    rows = []
    for name in names:
        m = a.models.get(name)
        if m is None:
            continue
        v = get_variant(name)
        maps = [(s.key, s.caption, m.maps[s.key].astype(np.float32)) for s in v.maps if s.key in m.maps]
        picture = heatmaps(a.rgb, maps, a.work_size, cls, probability, v.title)
        what = "probability" if probability else "raw score"
        alt = f"{v.title}'s maps of {a.label} for class {CLASSES[cls]} ({what}): " + "; ".join(
            s.caption for s in v.maps
        )
        rows.append(img_tag(picture, alt, fmt="png", cls="heatmap-img"))
    return f'<div class="heatmaps" data-image="{html.escape(a.label)}">{"".join(rows)}</div>'


def ablation(a: Analysis | None, name: str, drops: tuple[str, ...]) -> str:
    """A skip net's mask with ``drops`` switched off, and what that changed."""
    v = get_variant(name)
    if a is None:
        return _title(name) + empty("Pick a sample or upload a photo, then switch skips off here.")
    m = a.models.get(name)
    if m is None:
        return _title(name) + f'<div class="panel-missing">{html.escape(v.title)} is unavailable</div>'
    mask = m.ablated(drops)
    off = ", ".join(drops) or "nothing"
    alt = f"{v.title} mask of {a.label} with {off} switched off"
    changed = float((mask != m.mask).mean())
    line = f"switched off: <b>{off}</b> · {changed:.1%} of pixels changed vs the full model"
    if a.gt is not None and m.metrics:
        mi = (m.ablation_metrics.get(tuple(sorted(drops))) or image_metrics(mask, a.gt)) if drops else m.metrics
        line += f" · mIoU <b>{mi['miou']:.3f}</b> (full model {m.metrics['miou']:.3f}, Δ {mi['miou'] - m.metrics['miou']:+.3f})"
    return (
        f"{_title(name)}<figure class='panel-figure'>{img_tag(overlay(a.rgb, mask, 0.55), alt, cls='panel-img')}"
        f'</figure><div class="ablate-stats">{line}</div>'
    )


def reference(a: Analysis | None, name: str) -> str:
    """The model without skips, for comparison beside the ablation."""
    v = get_variant(name)
    note = '<div class="muted">for reference: no skips at all</div>'
    if a is None or name not in a.models:
        return _title(name) + note
    alt = f"{v.title} mask of {a.label} over the photo"
    return f"{_title(name)}{note}<figure class='panel-figure'>{img_tag(overlay(a.rgb, a.models[name].mask, 0.55), alt, cls='panel-img')}</figure>"


def api_summary(a: Analysis, mask_names: dict[str, str], sources: dict[str, str]) -> dict:
    """The ``segment`` endpoint's JSON: image facts, per-model latency, class shares and metrics."""
    h, w = a.original_size
    return {
        "image": {"width": w, "height": h, "sample": a.sample, "notes": a.notes, "cached": a.cached},
        "classes": list(CLASSES),
        "no_pet_found": a.no_pet(),
        "models": {
            name: {
                "title": m.title,
                "mask": mask_names[name],
                "latency_ms": round(m.ms, 1),
                "class_fractions": [round(c, 4) for c in m.class_fractions()],
                "metrics": m.metrics,
                "weights": sources.get(name),
            }
            for name, m in a.models.items()
        },
        "unavailable": a.unavailable,
    }


# ---------------------------------------------------------------------------- static parts of the page


def trained_on(histories: dict) -> str:
    """What the models learned from, read from their own history.json (so it stays true when they
    are retrained), and what that means for a visitor's photo."""
    seen = [h.trained_on for h in histories.values() if getattr(h, "trained_on", None) is not None]
    if not seen:
        return '<div class="trained-on muted">The models were trained on photos of cats and dogs only.</div>'
    widest = max(seen, key=lambda t: (t.breeds, t.unlabelled_photos))
    return (
        f'<div class="trained-on"><b>What the models learned from:</b> {html.escape(widest.sentence())}. '
        "Other pets, and anything that is not a cat or dog, may be mislabelled.</div>"
    )


def why_unavailable(error: str | None) -> str:
    """A load error as the page shows it: the reasons, with folders cut to their last part."""
    return re.sub(r"(?:/[^/\s:;()]+)+/([^/\s:;()]+)", r"\1", error or "its weights could not be loaded")


def weights_source(source: str) -> str:
    """Where a model's weights came from, in words for a student (no settings, no error codes)."""
    if source.startswith("Hub "):
        return f"the Hugging Face Hub ({html.escape(source[4:].split(' (')[0])})"
    if source.startswith("embedded"):
        return "the copy shipped with this app"
    return html.escape(source.split(" (")[0])


def _table(head: list[str], rows: list[list[str]], caption: str) -> str:
    th = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="data"><caption>{caption}</caption><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


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


def metrics_tables(metrics: dict | None) -> str:
    """The test-split table and, when evaluated, the out-of-distribution one."""
    if not metrics:
        return empty("No scores yet: the models have not been evaluated (python -m fcn_demo.evaluate).")
    head = ["Model", "Pixel acc", "Mean acc", "mIoU", "FW IoU"] + [f"IoU {c}" for c in metrics.get("classes", CLASSES)]

    def rows(models: dict) -> list[list[str]]:
        keys = ("pixel_acc", "mean_acc", "miou", "fwiou")
        return [[html.escape(m.get("title", n)), *[f"{float(m[k]):.3f}" for k in keys], *[f"{float(v):.3f}" for v in m["iou"]]]
                for n, m in models.items()]  # fmt: skip

    out = _table(head, rows(metrics["models"]),
                 f"Test split: {metrics.get('images', '?')} photos of the breeds the models were trained on, scored at full resolution")  # fmt: skip
    ood = metrics.get("ood")
    if ood and ood.get("models"):
        out += _table(head, rows(ood["models"]),
                      f"Breeds never trained on: {ood.get('images', '?')} labelled photos (out-of-distribution set)")  # fmt: skip
    return out


def provenance(loaded: dict, histories: dict) -> str:
    """Where each model's weights came from and how it was trained: the one place that says so."""
    rows = []
    for name, m in loaded.items():
        h = histories.get(name)
        wall = h.summary.get("wall_time_s") if h else None
        rows.append([
            html.escape(get_variant(name).title),
            weights_source(m.source) if m.model is not None else f"unavailable: {html.escape(why_unavailable(m.error))}",
            str(h.best_epoch) if h else "–",
            str(h.epochs[-1].epoch) if h else "–",
            f"{wall / 60:.1f} min" if wall else "–",
        ])  # fmt: skip
    return _table(
        ["Model", "Weights from", "Saved epoch", "Epochs", "Training time"], rows, "Where the weights came from"
    )


# ---------------------------------------------------------------------------- the pixel probe


def _probability_bars(probs: np.ndarray, winner: int) -> str:
    rows = []
    for i, (name, p) in enumerate(zip(CLASSES, probs)):
        r, g, b = CLASS_COLORS[i]
        value = f"<b>{p:.3f}</b>" if i == winner else f"{p:.3f}"
        rows.append(
            f'<li><span class="k">{html.escape(name)}</span><span class="probe-track" aria-hidden="true">'
            f'<span style="width:{p:.1%};background:rgb({r},{g},{b})"></span></span>{value}</li>'
        )
    return f'<ul class="probe-bars" aria-label="class probabilities">{"".join(rows)}</ul>'


def probe_alt(m: ModelProbe, x: int, y: int, label: str) -> str:
    """What a probe picture shows, in words."""
    return (f"{m.title}'s receptive field at ({x}, {y}) of {label}: theoretical {m.field_px} px box, "
            f"{MASS:.0%} of the gradient within {m.radius_px:.0f} px")  # fmt: skip


def probe_panels(p: Probe | None, rgb: np.ndarray | None, label: str = "your photo") -> str:
    """The pixel probe: the sentence, then every model's card (the photo with its theoretical box,
    its effective field as heat, the probed pixel; the class probabilities as bars). ``rgb`` is
    the display-size image that was probed; ``label`` names it in the alt texts."""
    if p is None or rgb is None:
        return empty("Click a pixel of the photo: each model's answer there and the pixels it depends on appear here.")
    if tuple(rgb.shape[:2]) != tuple(p.size):
        raise ValueError(f"the probe was taken on a {p.size[1]}x{p.size[0]} image, not {rgb.shape[1]}x{rgb.shape[0]}")
    scale = p.size[0] / p.work_size[0]  # display pixels per working pixel (the same on both axes, to rounding)
    cards = []
    for name, m in p.models.items():
        picture = field_picture(rgb, m.heat, m.box, (p.x, p.y), get_variant(name).color, m.radius_px * scale)
        stats = (
            _stat("theoretical field", f"{m.field_px} px")
            + _stat(f"{MASS:.0%} of gradient within", f"{m.radius_px:.0f} px ({m.radius_frac:.0%} of the short side)")
            + _stat("forward + backward", f"{m.ms:.0f} ms")
        )
        cards.append(
            f'<div class="panel probe-panel" data-model="{name}">{_title(name)}'
            f"<figure class='panel-figure'>{img_tag(picture, probe_alt(m, p.x, p.y, label), cls='panel-img')}</figure>"
            f'{_probability_bars(m.probs, m.winner)}<div class="panel-stats">{stats}</div></div>'
        )
    h, w = p.work_size
    key = (
        f"Outline: the theoretical field (every pixel that can influence the answer). Heat: the effective "
        f"field (how much each pixel does: the gradient of the winning score). Circle: {MASS:.0%} of that "
        f"gradient. Sizes in pixels of the {w}x{h} image the models ran at."
    )
    return (
        f'<div class="probe" data-image="{html.escape(label)}" data-x="{p.x}" data-y="{p.y}">'
        f'<p class="probe-sentence">{html.escape(p.sentence)}</p><p class="probe-key muted">{key}</p>'
        f'<div class="probe-panels">{"".join(cards)}</div></div>'
    )


def probe_summary(p: Probe) -> dict:
    """The ``probe`` endpoint's JSON: the pixel, and per model its probabilities, winner, boxes,
    field size, the radius of the effective field and the timing; and the sentence."""
    h, w = p.size

    def box(b: tuple[int, int, int, int]) -> dict:
        return dict(zip(("top", "left", "bottom", "right"), (int(v) for v in b)))

    return {
        "pixel": {"x": p.x, "y": p.y},
        "image": {"width": w, "height": h},
        "work_size": {"width": p.work_size[1], "height": p.work_size[0], "x": p.work_xy[0], "y": p.work_xy[1]},
        "classes": list(CLASSES),
        "models": {
            name: {
                "title": m.title,
                "probabilities": [round(float(v), 4) for v in m.probs],
                "winner": CLASSES[m.winner],
                "theoretical_field_px": m.field_px,
                "box": box(m.box),
                "box_work": box(m.box_work),
                "radius_90_px": round(m.radius_px, 1),
                "radius_90_fraction": round(m.radius_frac, 4),
                "latency_ms": round(m.ms, 1),
                "precision": m.precision,
            }
            for name, m in p.models.items()
        },
        "sentence": p.sentence,
        "latency_ms": round(p.ms, 1),
    }
