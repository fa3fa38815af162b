"""Maps derived from an analysis's masks (no model runs): computed once per request by
:class:`fcn_demo.request.analysis.Analysis`, then read by every view and lesson that needs them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fcn_demo.core.data import CLASSES

BORDER = CLASSES.index("border")


@dataclass
class Disagreement:
    """Where the models' masks differ."""

    models: int  # how many masks were compared
    distinct: np.ndarray  # (h, w) int: the number of distinct labels at each pixel
    count: int  # pixels where the models do not all agree
    share: float  # count / all pixels
    three: int  # pixels with three distinct labels
    odd: str | None  # the model most often the odd one out (None: no disagreement, or two models)
    odd_share: float  # of the disagreeing pixels, the share where ``odd`` differs from the majority
    on_border: float | None  # with ground truth: the share of disagreeing pixels on the border band
    border_share: float | None  # with ground truth: the border band's share of the image


def disagreement(masks: dict[str, np.ndarray], gt: np.ndarray | None) -> Disagreement:
    """Where the ``masks`` (model name -> (h, w) class indices) differ: per pixel the number of
    distinct labels, the counts, the model that is most often the odd one out and, with ground
    truth ``gt``, how much sits on the border band."""
    names = list(masks)
    stack = np.stack([masks[n] for n in names])
    votes = np.stack([(stack == c).sum(0) for c in range(len(CLASSES))])
    distinct = (votes > 0).sum(0)
    differ = distinct > 1
    count = int(differ.sum())
    majority = votes.argmax(0)
    odd = {n: int(((stack[i] != majority) & differ).sum()) for i, n in enumerate(names)}
    on_border = border_share = None
    if gt is not None:
        band = gt == BORDER
        border_share = float(band.mean())
        on_border = float(band[differ].mean()) if count else 0.0
    return Disagreement(
        models=len(names),
        distinct=distinct,
        count=count,
        share=count / differ.size,
        three=int((distinct > 2).sum()),
        odd=max(odd, key=odd.get) if count and len(names) > 2 else None,
        odd_share=max(odd.values()) / count if count else 0.0,
        on_border=on_border,
        border_share=border_share,
    )
