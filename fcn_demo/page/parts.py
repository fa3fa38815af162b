"""Words and pieces several tabs share: how the page names an image, a share, a time, the score
columns, a model that is not loaded, and the "what to notice" line's frame."""

from __future__ import annotations

import math
import re

from fcn_demo.core.i18n import text
from fcn_demo.page.html import escape, stat
from fcn_demo.request.analysis import Analysis

# The per-image scores, as (what the page says in English, the metrics key), in the page's order.
SCORE_LABELS = (("pixel acc", "pixel_acc"), ("mIoU", "miou"), ("border IoU", "border_iou"))


def score_labels(lang: str = "en") -> list[tuple[str, str]]:
    """:data:`SCORE_LABELS` in ``lang``: (what the page says, the metrics key)."""
    return [(text(lang, f"gen.score.{k}"), k) for _, k in SCORE_LABELS]


def scores(metrics: dict | None, lang: str = "en") -> str:
    """A model's per-image scores as stat items ("" without ground truth)."""
    if not metrics:
        return ""
    return "".join(stat(k, f"{metrics[v]:.3f}") for k, v in score_labels(lang))


def ms(lang: str, value: float) -> str:
    return text(lang, "gen.unit.ms", ms=value)


def pct(x: float) -> str:
    """A share as the page says it: one decimal below 10%, none above."""
    return f"{x:.1%}" if abs(x) < 0.1 else f"{x:.0%}"


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def image_name(a: Analysis, lang: str = "en") -> str:
    """How the page names the image in ``lang``: the sample's name, or "your photo"."""
    return a.sample or text(lang, "gen.your_photo")


def mask_alt(title: str, a: Analysis, lang: str = "en") -> str:
    """The alt text of a mask over the photo ("FCN-8s mask of Bengal_193 over the photo")."""
    return text(lang, "gen.alt.mask", model=title, image=image_name(a, lang))


def why_unavailable(error: str | None) -> str:
    """A load error as the page shows it: the reasons, with folders cut to their last part."""
    return re.sub(r"(?:/[^/\s:;()]+)+/([^/\s:;()]+)", r"\1", error or "its weights could not be loaded")


def unavailable(title: str, why: str | None, lang: str = "en") -> str:
    """What a card shows when its model is not loaded (``why``, the load error, stays as it is)."""
    said = (
        text(lang, "gen.unavailable_why", model=title, why=why) if why else text(lang, "gen.unavailable", model=title)
    )
    return f'<div class="panel-missing">{escape(said)}</div>'


def notice_line(view: str, said: str, lang: str = "en") -> str:
    """One or two sentences of what to notice under ``view`` ("" says nothing)."""
    if not said:
        return ""
    return f'<p class="notice" data-view="{view}"><b>{escape(text(lang, "gen.notice.head"))}</b> {escape(said)}</p>'
