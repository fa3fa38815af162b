"""The font the server draws text into pictures with: a subset of Noto Sans CJK SC (SIL OFL 1.1,
``noto/OFL.txt``) holding Latin, Cyrillic, digits, punctuation and every character of the phrase
files (fcn_demo/core/locales), so a figure or a slide says its words in zh-CN and ru too (PIL's
default font has Latin letters only and drew Chinese as boxes).

The subset is made from Debian's ``fonts-noto-cjk`` and committed; rebuild it after a phrase
gains a character the font lacks (tests/test_fonts.py says which)::

    python -m fcn_demo.core.fonts --build [--source /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterable
from pathlib import Path

from fcn_demo.core.i18n import translations

FOLDER = Path(__file__).resolve().parent / "noto"
FONT = FOLDER / "NotoSansSC-subset.otf"
FAMILY = "Noto Sans SC Subset"  # renamed so a system's full Noto Sans CJK SC cannot stand in for it
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_FACE = "Noto Sans CJK SC"  # the collection's Simplified Chinese face
# Beyond the phrase files: what numbers, names and a sample's file name may bring into a picture.
RANGES = (
    (0x20, 0x7E),  # Basic Latin
    (0xA0, 0xFF),  # Latin-1 (±, ×, ·, «», °)
    (0x0400, 0x045F),  # Cyrillic
    (0x2010, 0x2027),  # dashes, quotes, bullet, ellipsis
    (0x2030, 0x203A),  # per mille, primes, angle quotes
    (0x2190, 0x2193),  # arrows
    (0x2212, 0x2212),  # minus
    (0x2605, 0x2606),  # the saved epoch's star
    (0x3000, 0x303F),  # CJK punctuation
    (0xFF01, 0xFF5E),  # full-width forms (，：（）)
)


def needed() -> set[str]:
    """Every character the font must draw: :data:`RANGES` and every phrase of every locale."""
    chars = {chr(c) for lo, hi in RANGES for c in range(lo, hi + 1)}
    for table in translations().values():
        for phrase in table.values():
            chars |= set(phrase)
    return {c for c in chars if c.isprintable() or c == " "}


@functools.cache
def cmap() -> frozenset[str]:
    """The characters the shipped font has a glyph for."""
    from fontTools.ttLib import TTFont

    return frozenset(chr(c) for c in TTFont(FONT, lazy=True).getBestCmap())


def missing(texts: Iterable[str]) -> set[str]:
    """The characters of ``texts`` (white space aside) the shipped font cannot draw."""
    have = cmap()
    return {c for t in texts for c in t if not c.isspace() and c not in have}


@functools.cache
def pil(size: int):
    """The font for PIL's ImageDraw at ``size`` pixels."""
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT), size)


@functools.cache
def use_in_matplotlib() -> None:
    """Register the font with matplotlib and make it the default family, once: a text reads the
    family when it is made, so every figure's titles, labels and legends are drawn in it (the app
    draws all its figures in this one font; DejaVu Sans stands behind it for anything else)."""
    from matplotlib import font_manager, rcParams

    font_manager.fontManager.addfont(str(FONT))
    rcParams["font.family"] = [FAMILY, "DejaVu Sans"]


def build(source: Path = SOURCE, out: Path = FONT) -> Path:
    """Write the subset of ``source``'s Simplified Chinese face to ``out`` and return it."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    faces = TTCollection(str(source)).fonts
    face = next(f for f in faces if f["name"].getDebugName(1) == SOURCE_FACE)
    options = subset.Options()
    options.layout_features = ["kern", "liga", "locl", "vert", "palt"]  # no stylistic sets: smaller
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 7, 11, 13, 14]  # copyright, names, licence text and URL
    options.hinting = False  # drawn at figure sizes by FreeType's autohinter: half the bytes
    options.desubroutinize = False
    sub = subset.Subsetter(options)
    sub.populate(unicodes=[ord(c) for c in needed()])
    sub.subset(face)
    face.recalcTimestamp = False  # the same input builds the same bytes
    names = face["name"]
    for record in list(names.names):
        if record.nameID in (1, 16):
            names.setName(FAMILY, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID in (3, 4):
            names.setName(f"{FAMILY} Regular", record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 6:
            names.setName("NotoSansSCSubset-Regular", 6, record.platformID, record.platEncID, record.langID)
    names.names = [r for r in names.names if r.nameID not in (16, 17) or r.langID in (0, 0x409)]
    out.parent.mkdir(parents=True, exist_ok=True)
    face.save(str(out))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="store_true", help="write the subset next to this module")
    parser.add_argument("--source", type=Path, default=SOURCE, help="a Noto Sans CJK collection (.ttc)")
    args = parser.parse_args(argv)
    if not args.build:
        parser.print_help()
        return
    out = build(args.source)
    print(f"{out}: {out.stat().st_size / 2**20:.2f} MiB, {len(needed())} characters")


if __name__ == "__main__":
    main()
