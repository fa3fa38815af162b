"""The page's HTML kit: the few tags every view writes (pictures, titles, stat lines, tables, empty
states), each escaping what it is given as text. No model, no Gradio: strings in, a string out."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from fcn_demo.models import get_variant

escape = html.escape


def img_tag(
    picture: np.ndarray | Image.Image,
    alt: str,
    fmt: str = "jpeg",
    cls: str = "",
    text_px: int = 0,
    data: dict[str, str] | None = None,
) -> str:
    """An ``<img>`` with the picture inlined (JPEG for photos, PNG for charts and palettes);
    ``text_px``: the height of the smallest text drawn in it, in its own pixels (``data-text-px``:
    the page lays such figures out so that this text is at least 11 px on any screen); ``data``:
    its other data-* attributes (escaped)."""
    im = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.convert("RGB").save(buf, "JPEG", quality=88)
    else:
        # zlib level 1: ~40% less encoding time than the default 6, files a little larger.
        im.save(buf, "PNG", compress_level=1)
    encoded = base64.b64encode(buf.getvalue()).decode("ascii")
    data = {**({"text-px": str(int(text_px))} if text_px else {}), **(data or {})}
    attrs = "".join(f' data-{k}="{escape(str(v), quote=True)}"' for k, v in data.items())
    return f'<img class="{cls}" src="data:image/{fmt};base64,{encoded}" alt="{escape(alt, quote=True)}"{attrs}>'


def figure(picture: np.ndarray | Image.Image, alt: str, fmt: str = "jpeg", text_px: int = 0) -> str:
    """A card's picture: the panel figure around :func:`img_tag`."""
    return f"<figure class='panel-figure'>{img_tag(picture, alt, fmt=fmt, cls='panel-img', text_px=text_px)}</figure>"


def head(text: str, color: str) -> str:
    """A card title: a colour swatch and the text."""
    return f'<div class="panel-title"><i style="background:{color}"></i>{escape(text)}</div>'


def title(name: str) -> str:
    """A model's card title, in the model's colour."""
    v = get_variant(name)
    return head(v.title, v.color)


def stat(key: str, value: str) -> str:
    """One "key value" pair of a stat line (both already HTML)."""
    return f'<span class="stat"><span class="k">{key}</span> <b>{value}</b></span>'


def stats(*items: str, cls: str = "panel-stats") -> str:
    return f'<div class="{cls}">{"".join(items)}</div>'


def card(body: str) -> str:
    """One card among several in a lesson's grid (single cards get their class from the app)."""
    return f'<div class="panel lesson-card">{body}</div>'


def grid(cards: list[str], label: str) -> str:
    """A lesson's cards side by side, marked with the image they show."""
    return f'<div class="lesson-grid" data-image="{escape(label)}">{"".join(cards)}</div>'


def empty(what: str) -> str:
    """An empty state that says what to do."""
    return f'<div class="empty">{escape(what)}</div>'


def table(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]], row_header: bool = False,
          cls: str = "data") -> str:  # fmt: skip
    """An accessible table: a caption and column headers (text, escaped here), then the rows' cells
    (HTML: a ``<td>`` each, or a whole tag when a cell starts with ``<td``). With ``row_header`` a
    row's first cell is text that heads the row."""
    th = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    body = ""
    for row in rows:
        first, rest = (f'<th scope="row">{escape(row[0])}</th>', row[1:]) if row_header else ("", row)
        body += "<tr>" + first + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in rest) + "</tr>"
    return (
        f'<table class="{cls}"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    )
