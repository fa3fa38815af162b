"""The architecture drawn: each model as blocks, read from the built model, as an inline SVG.

The encoder runs left to right on the top row (VGG16's conv blocks and pools), the head and the
decoder come back right to left on the bottom row, so FCNs and the U-Net share one U-shaped
picture. Every block carries ``data-block`` (the layer's name) and, where the page has a view of
it, ``data-map`` (the key of forward()'s teaching map), ``data-skip`` (the ablation switch) and
``data-opens`` (which view): such a block is a button (focusable, named in the visitor's language)
that web/architecture.js, in the page, turns into navigation: a score or pool block opens its map on
this tab, a skip sum the Ablation tab's switch, a 2x transposed convolution the Lessons tab's
what-if. Words a student reads go through :func:`core.i18n.text`;
layer names (conv1, pool4, fc6 ...) are the code's and the paper's, the same in every language.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

from torch import nn

from fcn_demo.core.i18n import sentences, text
from fcn_demo.models import UNet, get_variant
from fcn_demo.models.unet import SKIP_TAPS

ENCODER_COLOR = "#dbeafe"
HEAD_COLOR = "#fef3c7"
UP_COLOR = "#dcfce7"
SKIP_COLOR = "#fce7f3"
INK = "#111827"


@dataclass(frozen=True)
class Block:
    """One box of the drawing: its layer name, a short line under it, its kind, its stride."""

    name: str
    detail: str
    kind: str  # encoder | pool | head | up | fuse | skip | io
    stride: int
    map_key: str | None = None  # forward()'s teaching map this block produces (opens the skip-map view)
    skip: str | None = None  # the ablation switch it belongs to (a pool tap)
    source: str | None = None  # the encoder block a skip reads (drawn as a dashed arrow)
    opens: str | None = None  # the view a click opens: "maps", "ablation" or "whatif" (see opens())


def opens(b: Block) -> str | None:
    """The view a click on ``b`` opens: its own (a skip sum: its ablation switch; a transposed
    convolution: the what-if), else its map when it has one."""
    return b.opens or ("maps" if b.map_key else None)


def _encoder(model: nn.Module, last: str, lang: str = "en") -> list[Block]:
    """VGG16 up to ``last`` (a tap name), read from the backbone's own layers: each conv block with
    its count of 3x3 convolutions and its width, each pool (its words in ``lang``)."""
    blocks, stride, convs, width = [], 1, 0, 0
    for i, layer in enumerate(model.backbone.features):
        if isinstance(layer, nn.Conv2d):
            convs, width = convs + 1, layer.out_channels
        tap = model.backbone.taps.get(i)
        if tap is None:
            continue
        if tap.startswith("pool"):
            stride *= 2
            blocks.append(Block(tap, text(lang, "gen.arch.max_pool", k=getattr(layer, "kernel_size", 2)), "pool",
                                stride))  # fmt: skip
        else:
            blocks.append(Block(tap, f"3x3 conv x{convs}, {width}", "encoder", stride))
            convs = 0
        if tap == last:
            break
    return blocks


def fcn_blocks(model: nn.Module, lang: str = "en") -> tuple[list[Block], list[Block]]:
    """(top row, bottom row) of an FCN: the backbone, then fc6/fc7 as convolutions, score_fr, and
    for each skip a 2x transposed convolution and a sum with the pool layer's 1x1 scores."""
    # a pool the head scores (pool5, and each skip's) opens that score map
    scored = {"pool5", *model.skips}
    top = [Block("input", text(lang, "gen.arch.image"), "io", 1)]
    top += [replace(b, map_key=f"score_{b.name}") if b.name in scored else b for b in _encoder(model, "pool5", lang)]
    k = model.head.fc6.kernel_size[0]
    bottom = [
        Block("fc6", f"{k}x{k} conv", "head", 32),
        Block("fc7", "1x1 conv", "head", 32),
        Block("score_fr", text(lang, "gen.arch.scores"), "head", 32, map_key="score_pool5"),
    ]
    stride = 32
    for pool in model.skips:
        stride //= 2
        size = model.upscore[pool].kernel_size[0]
        bottom.append(Block("upscore2", text(lang, "gen.arch.transposed", k=size), "up", stride, opens="whatif"))
        bottom.append(Block(f"score_{pool}", f"1x1 conv ({pool})", "skip", stride, map_key=f"score_{pool}", skip=pool,
                            source=pool))  # fmt: skip
        bottom.append(Block("+", text(lang, "gen.arch.sum"), "fuse", stride, map_key=f"fuse_{pool}", skip=pool,
                            opens="ablation"))  # fmt: skip
    bottom.append(Block("upsample", text(lang, "gen.arch.bilinear", factor=stride), "up", 1))
    bottom.append(Block("output", text(lang, "gen.arch.mask"), "io", 1))
    return top, bottom


def unet_blocks(model: nn.Module, lang: str = "en") -> tuple[list[Block], list[Block]]:
    """(top row, bottom row) of the U-Net: the encoder to pool4, the dilated bottleneck, then per
    stage a 2x bilinear upsampling concatenated with the encoder block of that size, and two convs."""
    top = [Block("input", text(lang, "gen.arch.image"), "io", 1), *_encoder(model, "pool4", lang)]
    d = [m[0].dilation[0] for m in model.center]
    bottom = [
        Block("center", f"3x3 conv, {text(lang, 'gen.arch.dilation')} {d[0]}, {d[1]}", "head", 16, map_key="stage16")
    ]
    for tap, stride in zip(SKIP_TAPS, (8, 4, 2, 1)):
        bottom.append(Block("concat", text(lang, "gen.arch.concat", tap=tap), "skip", stride, source=tap))
        bottom.append(Block(f"stage{stride}", "3x3 conv x2", "fuse", stride, map_key=f"stage{stride}"))
    bottom.append(Block("output", text(lang, "gen.arch.mask"), "io", 1))
    return top, bottom


def blocks_of(model: nn.Module, lang: str = "en") -> tuple[list[Block], list[Block]]:
    """The drawing's rows for a built model (its class says which drawing)."""
    return unet_blocks(model, lang) if isinstance(model, UNet) else fcn_blocks(model, lang)


FILL = {"encoder": ENCODER_COLOR, "pool": "#e0e7ff", "head": HEAD_COLOR, "up": UP_COLOR, "fuse": SKIP_COLOR,
        "skip": SKIP_COLOR, "io": "#f3f4f6"}  # fmt: skip
BOX_W, BOX_H, GAP, LANE_GAP, PAD = 124, 58, 12, 48, 8
LINE_CHARS = 19  # a detail line wraps after about this many characters (11 px text in a 124 px box)


def _width(token: str) -> int:
    """A token's width in Latin characters: a CJK character takes about two."""
    return sum(2 if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" else 1 for ch in token)


def _lines(detail: str) -> list[str]:
    """The detail text in at most two lines that fit a box: words wrap at spaces, CJK text between
    any two characters (it has no spaces)."""
    tokens = re.findall(r"[\u2e80-\u9fff\uff00-\uffef]|[^\s\u2e80-\u9fff\uff00-\uffef]+|\s+", detail)
    lines = [""]
    for tok in tokens:
        if tok.isspace():
            lines[-1] += " " if lines[-1] else ""
        elif lines[-1].strip() and _width(lines[-1] + tok) > LINE_CHARS and len(lines) < 2:
            lines.append(tok)
        else:
            lines[-1] += tok
    return [line.strip() for line in lines]


def action(b: Block, model: str, lang: str = "en") -> str:
    """What a click on ``b`` does, in words: the block's accessible name (``model``: its title)."""
    key = {"maps": "gen.arch.open_map", "ablation": "gen.arch.open_switch", "whatif": "gen.arch.open_whatif"}
    return text(lang, key[opens(b)], block=b.name, model=model, pool=b.skip or "")


def _box(b: Block, x: int, y: int, model: str = "", lang: str = "en") -> str:
    attrs = [f'data-block="{html.escape(b.name)}"', f'data-stride="{b.stride}"']
    if b.map_key:
        attrs.append(f'data-map="{html.escape(b.map_key)}"')
    if b.skip:
        attrs.append(f'data-skip="{html.escape(b.skip)}"')
    hint = ""
    if opens(b):
        said = html.escape(action(b, model, lang))
        attrs += [f'data-opens="{opens(b)}"', 'role="button"', 'tabindex="0"', f'aria-label="{said}"']
        hint = f"<title>{said}</title>"  # the mouse's tooltip
    lines = _lines(b.detail)
    detail = "".join(
        f'<text x="{x + BOX_W // 2}" y="{y + 38 + 13 * i - 6 * (len(lines) - 1)}" text-anchor="middle" font-size="12" '
        f'fill="{INK}">{html.escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    return (
        f'<g class="arch-block" {" ".join(attrs)}>{hint}'
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{FILL[b.kind]}" stroke="{INK}" stroke-width="1"/>'
        f'<text x="{x + BOX_W // 2}" y="{y + 18}" text-anchor="middle" font-size="14" font-weight="600" fill="{INK}">{html.escape(b.name)}</text>'
        f"{detail}</g>"
    )  # fmt: skip


def layout(
    top: list[Block], bottom: list[Block], tall: bool
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int, int]:
    """Box corners of the encoder lane and of the way back, and the drawing's size. Wide: the
    encoder on the top row left to right, the way back on the bottom row right to left. Tall (a
    phone): the encoder down the left column, the way back up the right one."""
    n = max(len(top), len(bottom))
    step = (BOX_W if not tall else BOX_H) + GAP
    first = [(PAD + i * step, PAD) if not tall else (PAD, PAD + i * step) for i in range(len(top))]
    back = PAD + (BOX_H if not tall else BOX_W) + LANE_GAP
    second = [
        (PAD + (n - 1 - i) * step, back) if not tall else (back, PAD + (n - 1 - i) * step) for i in range(len(bottom))
    ]
    long_side, short_side = PAD * 2 + n * step - GAP, back + (BOX_H if not tall else BOX_W) + PAD
    return first, second, *((long_side, short_side) if not tall else (short_side, long_side))


def _center(xy: tuple[int, int]) -> tuple[int, int]:
    return xy[0] + BOX_W // 2, xy[1] + BOX_H // 2


def _edge(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int, int, int]:
    """From the side of box ``a`` facing box ``b`` to the side of ``b`` facing ``a``."""
    (ax, ay), (bx, by) = _center(a), _center(b)
    if abs(bx - ax) * BOX_H >= abs(by - ay) * BOX_W:  # mostly sideways
        sx = BOX_W // 2 if bx > ax else -BOX_W // 2
        return ax + sx, ay, bx - sx, by
    sy = BOX_H // 2 if by > ay else -BOX_H // 2
    return ax, ay + sy, bx, by - sy


def _across(a: tuple[int, int], b: tuple[int, int], tall: bool) -> tuple[int, int, int, int]:
    """A skip from encoder box ``a`` across the gap between the lanes to box ``b`` (from the side of
    ``a`` that faces the other lane, so it cannot be read as leaving a neighbour)."""
    (ax, ay), (bx, by) = _center(a), _center(b)
    if tall:
        return ax + BOX_W // 2, ay, bx - BOX_W // 2, by
    return ax, ay + BOX_H // 2, bx, by - BOX_H // 2


def svg(name: str, model: nn.Module, lang: str = "en", tall: bool = False) -> str:
    """The variant drawn as an SVG: wide (two rows) for a desk or projector, tall (two columns)
    for a phone, where the same text then shows at full size."""
    top, bottom = blocks_of(model, lang)
    first, second, width, height = layout(top, bottom, tall)
    # Its own arrowhead id: a page holds many drawings, some hidden, and url(#id) takes the first.
    marker = f"arch-arrow-{name}-{'tall' if tall else 'wide'}"
    title = get_variant(name).title
    parts = [_box(b, *xy, model=title, lang=lang) for b, xy in zip(top + bottom, first + second)]
    for lane in (first, second):
        parts += [_arrow(*_edge(a, b), marker=marker) for a, b in zip(lane, lane[1:])]
    parts.append(_arrow(*_edge(first[-1], second[0]), marker=marker))
    where = {b.name: xy for b, xy in zip(top, first)}
    parts += [
        _arrow(*_across(where[b.source], xy, tall), dashed=True, marker=marker)
        for b, xy in zip(bottom, second)
        if b.source in where
    ]
    # The picture's text alternative walks the same path: every block, in order, with its detail.
    path = ", ".join(f"{b.name} ({b.detail})" for b in top + bottom)
    title = html.escape(f"{text(lang, 'gen.arch.title', model=title)}: {path}")
    return (
        f'<svg class="architecture {"tall" if tall else "wide"}" viewBox="0 0 {width} {height}" width="{width}" '
        'style="max-width:100%;height:auto" '
        f'role="group" aria-label="{title}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>'
        f'<defs><marker id="{marker}" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        f'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="{INK}"/></marker></defs>{"".join(parts)}</svg>'
    )  # fmt: skip


def _arrow(x1: int, y1: int, x2: int, y2: int, dashed: bool = False, marker: str = "arch-arrow") -> str:
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{INK}" stroke-width="1.5"{dash} '
            f'marker-end="url(#{marker})"/>')  # fmt: skip


def panel(models: dict[str, nn.Module], lang: str = "en") -> str:
    """Every model drawn, one figure each (wide for a desk or projector, tall on a phone: the CSS
    shows one), under a heading that says what the drawing is for."""
    figures = "".join(
        f'<figure class="arch-figure" data-model="{html.escape(name)}"><figcaption>'
        f"{html.escape(get_variant(name).title)}</figcaption>{svg(name, model, lang)}{svg(name, model, lang, tall=True)}"
        "</figure>"
        for name, model in models.items()
    )
    heading = sentences(lang, text(lang, "gen.arch.heading"), text(lang, "gen.arch.click"))
    return f'<div class="architecture-panel"><p class="arch-heading">{html.escape(heading)}</p>{figures}</div>'
