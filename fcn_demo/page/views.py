"""What each part of the page shows for an :class:`~fcn_demo.request.analysis.Analysis`, as HTML and pictures.

No model runs here and nothing here knows Gradio: a view takes an analysis (or None, before the
first image) plus the view's settings and returns an HTML string. Pictures are inlined as data
URLs in ``<img>`` tags, each with alt text that says what it shows ("FCN-8s mask of Bengal_193
over the photo"), so screen readers can tell the panels apart. The UI, the API and bench/speed.py
all call these.

Every view takes ``lang`` (one of fcn_demo.core.i18n.LOCALES, English by default) and writes its words in
that language (fcn_demo.core.i18n); the API's JSON stays English.
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

from fcn_demo.core import lineage
from fcn_demo.core.data import CLASS_COLORS, CLASSES, REPO_ROOT
from fcn_demo.core.i18n import class_name, listing, note, plural, text
from fcn_demo.core.metrics import image_metrics
from fcn_demo.models import get_variant
from fcn_demo.page.viz import error_map, field_picture, heatmaps, legend_html, overlay
from fcn_demo.request.analysis import Analysis, ModelAnswer
from fcn_demo.request.probe import MASS, ModelProbe, Probe, sentence

VIEW_MODES = ("overlay", "mask only", "error map")
SCORE_LABELS = (("pixel acc", "pixel_acc"), ("mIoU", "miou"), ("border IoU", "border_iou"))


def score_labels(lang: str = "en") -> list[tuple[str, str]]:
    """:data:`SCORE_LABELS` in ``lang``: (what the page says, the metrics key)."""
    return [(text(lang, f"gen.score.{k}"), k) for _, k in SCORE_LABELS]


def img_tag(picture: np.ndarray | Image.Image, alt: str, fmt: str = "jpeg", cls: str = "") -> str:
    """An ``<img>`` with the picture inlined (JPEG for photos, PNG for charts and palettes)."""
    im = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.convert("RGB").save(buf, "JPEG", quality=88)
    else:
        # zlib level 1: ~40% less encoding time than the default 6, files a little larger.
        im.save(buf, "PNG", compress_level=1)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="{cls}" src="data:image/{fmt};base64,{data}" alt="{html.escape(alt, quote=True)}">'


def _title(name: str) -> str:
    v = get_variant(name)
    return f'<div class="panel-title"><i style="background:{v.color}"></i>{html.escape(v.title)}</div>'


def _stat(key: str, value: str) -> str:
    return f'<span class="stat"><span class="k">{key}</span> <b>{value}</b></span>'


def _scores(metrics: dict | None, lang: str = "en") -> str:
    if not metrics:
        return ""
    return "".join(_stat(k, f"{metrics[v]:.3f}") for k, v in score_labels(lang))


def ms(lang: str, value: float) -> str:
    return text(lang, "gen.unit.ms", ms=value)


def empty(what: str) -> str:
    """An empty state that says what to do."""
    return f'<div class="empty">{html.escape(what)}</div>'


def image_name(a: Analysis, lang: str = "en") -> str:
    """How the page names the image in ``lang``: the sample's name, or "your photo"."""
    return a.sample or text(lang, "gen.your_photo")


def panel_picture(a: Analysis, m: ModelAnswer, opacity: float, mode: str, lang: str = "en") -> tuple[np.ndarray, str]:
    """The panel's picture and its alt text."""
    image = image_name(a, lang)
    if mode == "error map" and a.gt is not None:
        wrong = float((m.mask != a.gt).mean())
        return error_map(a.rgb, m.mask, a.gt), text(lang, "gen.alt.error_map", model=m.title, image=image, wrong=wrong)
    if mode == "mask only":
        return overlay(a.rgb, m.mask, opacity, mask_only=True), text(
            lang, "gen.alt.mask_only", model=m.title, image=image
        )
    return overlay(a.rgb, m.mask, opacity), mask_alt(m.title, a, lang)


def mask_alt(title: str, a: Analysis, lang: str = "en") -> str:
    """The alt text of a mask over the photo ("FCN-8s mask of Bengal_193 over the photo")."""
    return text(lang, "gen.alt.mask", model=title, image=image_name(a, lang))


def unavailable(title: str, why: str | None, lang: str = "en") -> str:
    """What a card shows when its model is not loaded (``why``, the load error, stays as it is)."""
    said = (
        text(lang, "gen.unavailable_why", model=title, why=why) if why else text(lang, "gen.unavailable", model=title)
    )
    return f'<div class="panel-missing">{html.escape(said)}</div>'


def panel(a: Analysis | None, name: str, opacity: float = 0.55, mode: str = "overlay", lang: str = "en") -> str:
    """One model's card in the Compare view: title, picture, scores, legend."""
    v = get_variant(name)
    if a is None:
        return _title(name) + empty(text(lang, "gen.panel.empty", model=v.title))
    m = a.models.get(name)
    if m is None:
        return _title(name) + unavailable(v.title, why_unavailable(a.unavailable.get(name)), lang)
    picture, alt = panel_picture(a, m, opacity, mode, lang)
    pet = m.class_fractions()[CLASSES.index("pet")]
    stats = (
        _stat(text(lang, "gen.stat.forward"), ms(lang, m.ms))
        + _stat(class_name(lang, "pet"), text(lang, "gen.stat.of_image", share=pet))
        + _scores(m.metrics, lang)
    )
    return (
        f"{_title(name)}<figure class='panel-figure'>{img_tag(picture, alt, cls='panel-img')}</figure>"
        f'<div class="panel-stats">{stats}</div>{legend_html(mode == "error map" and a.gt is not None, lang)}'
    )


def status(a: Analysis | None, lang: str = "en") -> str:
    """The line under the input: what was segmented, how, and what to watch out for."""
    if a is None:
        return f'<div class="status muted">{html.escape(text(lang, "gen.status.empty"))}</div>'
    h, w = a.original_size
    if a.sample:
        what = text(lang, "gen.status.sample", name=f"<b>{html.escape(a.sample)}</b>")
    else:
        what = html.escape(text(lang, "gen.status.upload"))
    n = len(a.models)
    how = (
        text(lang, "gen.status.cached")
        if a.cached
        else text(lang, "gen.status.ran", n=n, models=plural(lang, "gen.n.models", n), ms=ms(lang, a.ms))
    )
    notes = [note(lang, n) for n in a.notes]
    if a.no_pet():
        notes.insert(0, text(lang, "gen.status.no_pet"))
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    line = text(lang, "gen.status.line", what=what, w=w, h=h, how=html.escape(how))
    return (
        f'<div class="status" data-image="{html.escape(a.label)}" data-sample="{html.escape(a.sample or "")}">'
        f"{line}{f'<ul class=notes>{items}</ul>' if items else ''}</div>"
    )


def caption(lang: str, key: str, english: str) -> str:
    """A teaching map's caption (the registry's MapSpec.caption, in English) in ``lang``."""
    return text(lang, f"gen.map.{key}") if lang != "en" else english


def skip_maps(a: Analysis | None, names: list[str], cls: int, probability: bool, lang: str = "en") -> str:
    """Every model's teaching maps, one row a model, at each map's own stride. The pictures' own
    captions stay English (the drawing font has Latin letters only); their alt texts follow ``lang``."""
    if a is None:
        return empty(text(lang, "gen.maps.empty"))
    rows = []
    for name in names:
        m = a.models.get(name)
        if m is None:
            continue
        v = get_variant(name)
        maps = [(s.key, s.caption, m.maps[s.key].astype(np.float32)) for s in v.maps if s.key in m.maps]
        picture = heatmaps(a.rgb, maps, a.work_size, cls, probability, v.title)
        alt = text(lang, "gen.alt.maps", model=v.title, image=image_name(a, lang), cls=class_name(lang, cls),
                   what=text(lang, "gen.maps.probability" if probability else "gen.maps.raw"),
                   captions=listing(lang, (caption(lang, s.key, s.caption) for s in v.maps), strong=True))  # fmt: skip
        rows.append(img_tag(picture, alt, fmt="png", cls="heatmap-img"))
    return f'<div class="heatmaps" data-image="{html.escape(a.label)}">{"".join(rows)}</div>'


def ablation(a: Analysis | None, name: str, drops: tuple[str, ...], lang: str = "en") -> str:
    """A skip net's mask with ``drops`` switched off, and what that changed."""
    v = get_variant(name)
    if a is None:
        return _title(name) + empty(text(lang, "gen.ablate.empty"))
    m = a.models.get(name)
    if m is None:
        return _title(name) + unavailable(v.title, None, lang)
    mask = m.ablated(drops)
    off = listing(lang, drops) or text(lang, "gen.ablate.nothing")
    alt = text(lang, "gen.alt.ablated", model=v.title, image=image_name(a, lang), off=off)
    changed = float((mask != m.mask).mean())
    line = text(lang, "gen.ablate.line", off=f"<b>{html.escape(off)}</b>", changed=changed)
    if a.gt is not None and m.metrics:
        mi = (m.ablation_metrics.get(tuple(sorted(drops))) or image_metrics(mask, a.gt)) if drops else m.metrics
        full = m.metrics["miou"]
        line += " · " + text(
            lang, "gen.ablate.miou", miou=f"<b>{mi['miou']:.3f}</b>", full=full, delta=mi["miou"] - full
        )
    return (
        f"{_title(name)}<figure class='panel-figure'>{img_tag(overlay(a.rgb, mask, 0.55), alt, cls='panel-img')}"
        f'</figure><div class="ablate-stats">{line}</div>'
    )


def reference(a: Analysis | None, name: str, lang: str = "en") -> str:
    """The model without skips, for comparison beside the ablation."""
    v = get_variant(name)
    note = f'<div class="muted">{html.escape(text(lang, "gen.ablate.reference"))}</div>'
    if a is None or name not in a.models:
        return _title(name) + note
    alt = mask_alt(v.title, a, lang)
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


def trained_on(histories: dict, lang: str = "en") -> str:
    """What the models learned from, read from their own history.json (so it stays true when they
    are retrained), and what that means for a visitor's photo."""
    seen = [h.trained_on for h in histories.values() if getattr(h, "trained_on", None) is not None]
    if not seen:
        return f'<div class="trained-on muted">{html.escape(text(lang, "gen.trained.none"))}</div>'
    widest = max(seen, key=lambda t: (t.breeds, t.unlabelled_photos))
    said = text(lang, "gen.trained.line", head=f"<b>{html.escape(text(lang, 'gen.trained.head'))}</b>",
                sentence=html.escape(widest.sentence(lang)))  # fmt: skip
    return f'<div class="trained-on">{said}</div>'


def why_unavailable(error: str | None) -> str:
    """A load error as the page shows it: the reasons, with folders cut to their last part."""
    return re.sub(r"(?:/[^/\s:;()]+)+/([^/\s:;()]+)", r"\1", error or "its weights could not be loaded")


def weights_source(source: str, lang: str = "en") -> str:
    """Where a model's weights came from, in words for a student (no settings, no error codes)."""
    if source.startswith("Hub "):
        return html.escape(text(lang, "gen.source.hub", repo=source[4:].split(" (")[0]))
    if source.startswith("embedded"):
        return html.escape(text(lang, "gen.source.embedded"))
    return html.escape(source.split(" (")[0])


def _table(head: list[str], rows: list[list[str]], caption: str) -> str:
    th = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<table class="data"><caption>{html.escape(caption)}</caption><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table>")  # fmt: skip


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


def metrics_tables(metrics: dict | None, lang: str = "en") -> str:
    """The test-split table and, when evaluated, the out-of-distribution one."""
    if not metrics:
        return empty(text(lang, "gen.metrics.empty"))
    head = [text(lang, "gen.th.model"), text(lang, "gen.th.pixel_acc"), text(lang, "gen.th.mean_acc"), "mIoU",
            "FW IoU"] + [text(lang, "gen.th.iou", cls=class_name(lang, c)) for c in metrics.get("classes", CLASSES)]  # fmt: skip

    def rows(models: dict) -> list[list[str]]:
        keys = ("pixel_acc", "mean_acc", "miou", "fwiou")
        return [[html.escape(m.get("title", n)), *[f"{float(m[k]):.3f}" for k in keys], *[f"{float(v):.3f}" for v in m["iou"]]]
                for n, m in models.items()]  # fmt: skip

    out = _table(head, rows(metrics["models"]), text(lang, "gen.metrics.test", n=metrics.get("images", "?")))
    ood = metrics.get("ood")
    if ood and ood.get("models"):
        out += _table(head, rows(ood["models"]), text(lang, "gen.metrics.ood", n=ood.get("images", "?")))
    return out


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
            html.escape(get_variant(name).title),
            weights_source(m.source, lang) if m.model is not None
            else html.escape(text(lang, "gen.provenance.unavailable", why=why_unavailable(m.error))),
            _in_round(h.best_epoch, n, lang) if h else "–",
            _in_round(h.epochs[-1].epoch, n, lang) if h else "–",
            text(lang, "gen.unit.min", min=wall / 60) if wall else "–",
        ])  # fmt: skip
    head = [text(lang, "gen.th.model")] + [
        text(lang, f"gen.provenance.{k}") for k in ("source", "saved", "epochs", "time")
    ]
    return _table(head, rows, text(lang, "gen.provenance.caption"))


# ---------------------------------------------------------------------------- the pixel probe


def _probability_bars(probs: np.ndarray, winner: int, lang: str = "en") -> str:
    rows = []
    for i, p in enumerate(probs):
        r, g, b = CLASS_COLORS[i]
        value = f"<b>{p:.3f}</b>" if i == winner else f"{p:.3f}"
        rows.append(
            f'<li><span class="k">{html.escape(class_name(lang, i))}</span><span class="probe-track" aria-hidden="true">'
            f'<span style="width:{p:.1%};background:rgb({r},{g},{b})"></span></span>{value}</li>'
        )
    aria = html.escape(text(lang, "gen.probe.bars"), quote=True)
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
            _stat(text(lang, "gen.stat.field"), text(lang, "gen.unit.px", n=m.field_px))
            + _stat(text(lang, "gen.stat.within", mass=MASS),
                    text(lang, "gen.probe.radius", r=m.radius_px, frac=m.radius_frac))
            + _stat(text(lang, "gen.stat.forward_backward"), ms(lang, m.ms))
        )  # fmt: skip
        alt = probe_alt(m, p.x, p.y, label, lang)
        cards.append(
            f'<div class="panel probe-panel" data-model="{name}">{_title(name)}'
            f"<figure class='panel-figure'>{img_tag(picture, alt, cls='panel-img')}</figure>"
            f'{_probability_bars(m.probs, m.winner, lang)}<div class="panel-stats">{stats}</div></div>'
        )
    h, w = p.work_size
    key = html.escape(text(lang, "gen.probe.key", mass=MASS, w=w, h=h))
    said = p.sentence if lang == "en" else sentence(p.x, p.y, p.work_size, p.models, lang)
    return (
        f'<div class="probe" data-image="{html.escape(label)}" data-x="{p.x}" data-y="{p.y}">'
        f'<p class="probe-sentence">{html.escape(said)}</p><p class="probe-key muted">{key}</p>'
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
