"""What-if of a transposed convolution: a kernel size and a stride, and the overlap they make.

A transposed convolution paints a copy of its kernel, scaled by each input value, every ``stride``
output pixels. On a flat input every output pixel then sums the kernel taps that land on it: when
the kernel size is a multiple of the stride, each pixel gets the same number of taps; when it is
not, neighbouring pixels get different numbers, and a flat input comes out as a checkerboard
(Odena, Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016). The counts
here are exact, from ``conv_transpose2d`` with a kernel of ones; the model's own learned kernel is
shown beside them by the upsampling lesson (``page.lessons.flat_response``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from fcn_demo.core.i18n import text
from fcn_demo.core.inputs import InputError
from fcn_demo.page.html import escape, img_tag

KERNELS = (1, 2, 3, 4, 5, 6, 7, 8)  # the slider's range
STRIDES = (1, 2, 3, 4)
SHOW = 8  # output pixels shown per side, from the interior of the map, away from its edges


def overlap_counts(kernel: int, stride: int, show: int = SHOW) -> np.ndarray:
    """How many kernel taps land on each output pixel when a flat input of ones goes through a
    transposed convolution (kernel of ones): ``show`` x ``show`` pixels of the interior, where every
    pixel has all the input cells that can reach it (the edges are thinner for any kernel)."""
    cells = math.ceil((show + 2 * kernel) / stride) + 1  # enough input for an interior of `show`
    ones = torch.ones(1, 1, cells, cells)
    out = F.conv_transpose2d(ones, torch.ones(1, 1, kernel, kernel), stride=stride)[0, 0].numpy()
    return np.rint(out[kernel : kernel + show, kernel : kernel + show]).astype(int)


def unevenness(counts: np.ndarray) -> float:
    """(max - min) / mean of the counts: 0 for an even coverage, above 0 for a checkerboard."""
    return float((counts.max() - counts.min()) / counts.mean())


CELL = 36  # px: an output pixel's square in the picture (its count is written half as high)


def picture(counts: np.ndarray, px: int = CELL) -> Image.Image:
    """The counts as a grey grid (darker: more taps), each cell ``px`` wide with its number."""
    lo, hi = counts.min(), counts.max()
    shade = 235 - (counts - lo) * (150 / max(1, hi - lo))
    im = Image.fromarray(np.kron(shade, np.ones((px, px))).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for (r, c), n in np.ndenumerate(counts):
        colour = (255, 255, 255) if shade[r, c] < 140 else (17, 24, 39)
        draw.text((c * px + px / 2, r * px + px / 2), str(n), fill=colour, anchor="mm", font_size=px // 2)
    return im


def sentence(kernel: int, stride: int, lang: str = "en", counts: np.ndarray | None = None) -> str:
    """What the learner sees, in words: even or a checkerboard, and why (``counts``: the overlap
    counts of this kernel and stride, when the caller has them already)."""
    counts = overlap_counts(kernel, stride) if counts is None else counts
    if kernel < stride:
        return text(lang, "gen.whatif.gaps", k=kernel, s=stride)
    if unevenness(counts) == 0:
        return text(lang, "gen.whatif.even", k=kernel, s=stride, n=int(counts.flat[0]))
    return text(lang, "gen.whatif.checkerboard", k=kernel, s=stride, lo=int(counts.min()), hi=int(counts.max()))


def checked(kernel, stride) -> tuple[int, int]:
    """The sliders' values as the integers they stand for, or a message (an API client may send anything)."""
    out = []
    for name, value, allowed in (("kernel", kernel, KERNELS), ("stride", stride, STRIDES)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
        if not ok or int(value) not in allowed:
            raise InputError.say("gen.error.whole_number", title="gen.error.title_setting", setting=name,
                                 low=allowed[0], high=allowed[-1])  # fmt: skip
        out.append(int(value))
    return out[0], out[1]


def panel(kernel: int, stride: int, lang: str = "en", learned: tuple[tuple[int, int], ...] = ()) -> str:
    """The what-if's answer: the overlap counts on a flat input as a picture, what they mean, and
    the kernel and stride the FCNs' own learned upsampling uses (``learned``), to set the sliders to."""
    counts = overlap_counts(kernel, stride)
    said = sentence(kernel, stride, lang, counts)
    own = "".join(
        f"<p>{escape(text(lang, 'gen.whatif.learned', k=k, s=s, verdict=sentence(k, s, lang)))}</p>" for k, s in learned
    )
    return (
        f'<div class="whatif"><figure class="panel-figure">{img_tag(picture(counts), said, fmt="png", text_px=CELL // 2)}'
        f"</figure><p><strong>{escape(said)}</strong></p>{own}</div>"
    )
