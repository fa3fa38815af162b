"""fcn_demo.core.fonts: the shipped Noto subset draws every phrase the server may draw into a picture,
in every language, for PIL and matplotlib alike; it is small and carries its licence."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fcn_demo.core import fonts, i18n


def drawn(said: str, size: int = 24) -> np.ndarray:
    im = Image.new("L", (size * (len(said) + 1), size * 2), 0)
    ImageDraw.Draw(im).text((4, 4), said, fill=255, font=fonts.pil(size))
    return np.asarray(im)


def test_every_phrase_of_every_locale_has_its_glyphs():
    """A phrase (a figure's caption, a slide's, a heatmap's scale) with a character the font lacks
    would be drawn as a box: rebuild the font (python -m fcn_demo.core.fonts --build)."""
    for loc, table in i18n.translations().items():
        lacking = {key: sorted(fonts.missing([phrase])) for key, phrase in table.items() if fonts.missing([phrase])}
        assert not lacking, f"{loc}: the font lacks {lacking}"
    digits = "0123456789 .,:;%±×·–—()[]«»“”‘’"
    latin = "".join(map(chr, range(0x41, 0x5B))) + "".join(map(chr, range(0x61, 0x7B)))
    cyrillic = "".join(map(chr, range(0x410, 0x450))) + "ёЁ"
    assert not fonts.missing([digits, latin, cyrillic, "背景宠物边界，。：（）"])


def test_a_character_outside_the_subset_is_reported():
    assert fonts.missing(["FCN-8s 龘"]) == {"龘"}  # a rare character: the test above would name it


def test_chinese_and_cyrillic_are_drawn_as_letters_not_boxes():
    # A missing glyph draws as the same box every time; real letters differ from one another.
    for a, b in (("宠", "物"), ("Ж", "ф"), ("a", "g")):
        assert drawn(a).any() and not np.array_equal(drawn(a), drawn(b)), (a, b)
    assert not np.array_equal(drawn("背"), drawn("龘"))  # the box of a character it lacks


def test_matplotlib_finds_the_shipped_font():
    from matplotlib import font_manager, rcParams

    fonts.use_in_matplotlib()
    assert rcParams["font.family"][0] == fonts.FAMILY
    found = font_manager.findfont(font_manager.FontProperties(family=fonts.FAMILY), fallback_to_default=False)
    assert found == str(fonts.FONT)


def test_the_font_is_small_and_ships_its_licence():
    assert fonts.FONT.stat().st_size < 1.5 * 2**20
    licence = (fonts.FOLDER / "OFL.txt").read_text()
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and "Adobe" in licence


@pytest.mark.skipif(not fonts.SOURCE.exists(), reason="Debian's fonts-noto-cjk is not installed")
def test_the_build_script_makes_the_shipped_font(tmp_path):
    from fontTools.ttLib import TTFont

    out = fonts.build(out=tmp_path / "subset.otf")
    assert set(TTFont(out).getBestCmap()) == {ord(c) for c in fonts.cmap()}
    assert TTFont(out)["name"].getDebugName(1) == fonts.FAMILY
