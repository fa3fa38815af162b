"""fcn_demo.page.slides: a teacher's export of the Compare row and of a skip-map row as one PNG, with
its pictures as the page draws them and its captions in the asked language (on a hand-built
analysis; no model runs)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from test_lessons import make_analysis

from fcn_demo.core.i18n import text
from fcn_demo.core.inputs import InputError
from fcn_demo.page import maps, slides
from fcn_demo.page.compare import panel_picture

LANGS = ("en", "zh-CN", "ru")


def pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))


def title_block(said: str, size: int, width: int) -> np.ndarray:
    return pixels(slides._block(slides._lines(said, size, width), size, width))


def found_at(slide: np.ndarray, part: np.ndarray, y: int, x: int = slides.PAD) -> bool:
    h, w = part.shape[:2]
    return np.array_equal(slide[y : y + h, x : x + w], part)


@pytest.mark.parametrize("lang", LANGS)
def test_the_compare_slide_holds_every_models_picture_under_a_caption_in_the_language(lang):
    a = make_analysis()
    names = list(a.models)
    slide = slides.compare_slide(a, names, 0.6, "overlay", lang)
    got = pixels(slide)
    pw = round(a.rgb.shape[1] * slides.PICTURE_H / a.rgb.shape[0])
    width = len(names) * pw + (len(names) - 1) * slides.PAD
    assert slide.width == width + 2 * slides.PAD
    # The title, drawn in the asked language, stands at the top, as it would be drawn on its own.
    title = title_block(text(lang, "gen.slide.compare", image="Bengal_1"), 34, width)
    assert found_at(got, title, slides.PAD)
    # Each model's picture is the Compare tab's picture of it, at the slide's height.
    y = slides.PAD + title.shape[0] + 12 + 36 + 8
    for i, n in enumerate(names):
        picture, _ = panel_picture(a, a.models[n], 0.6, "overlay", lang)
        resized = pixels(Image.fromarray(picture).resize((pw, slides.PICTURE_H), Image.LANCZOS))
        assert found_at(got, resized, y, slides.PAD + i * (pw + slides.PAD)), n


def test_the_caption_follows_the_asked_language_and_chinese_is_drawn():
    a = make_analysis()
    drawn = {lang: pixels(slides.compare_slide(a, list(a.models), 0.6, "error map", lang)) for lang in LANGS}
    width = drawn["en"].shape[1] - 2 * slides.PAD
    for lang in LANGS:
        own = title_block(text(lang, "gen.slide.compare", image="Bengal_1"), 34, width)
        assert found_at(drawn[lang], own, slides.PAD)
        for other in set(LANGS) - {lang}:
            theirs = title_block(text(other, "gen.slide.compare", image="Bengal_1"), 34, width)
            assert not found_at(drawn[lang], theirs, slides.PAD), (lang, other)
    # Chinese letters are drawn as letters: the title has ink where the characters are, and two
    # different sentences differ (a missing glyph would be the same box for every character).
    zh = title_block("四个模型分割", 34, width)
    assert (zh < 128).any() and not np.array_equal(zh, title_block("边界宠物背景", 34, width))


@pytest.mark.parametrize("lang", LANGS)
def test_a_skip_map_row_slide_holds_the_row_under_its_sentence(lang):
    a = make_analysis()
    picture, alt = maps.row(a, "fcn8s", 1, True, lang)
    slide = pixels(slides.maps_slide(a, "fcn8s", 1, True, lang))
    caption = title_block(alt, 22, picture.width)
    assert found_at(slide, caption, slides.PAD)
    assert found_at(slide, pixels(picture), slides.PAD + caption.shape[0] + 12)
    if lang != "en":
        assert alt != maps.row(a, "fcn8s", 1, True, "en")[1]


def test_the_export_handlers_write_a_png_when_asked_and_refuse_without_an_image(loaded_models, tmp_path):
    import app

    st = app.DemoState(loaded_models, "cpu")
    st.files.root = tmp_path
    with pytest.raises(InputError):
        st.slide_compare(None, 0.6, "overlay", lang="zh-CN")
    with pytest.raises(InputError):
        st.slide_compare(make_analysis(), 0.6, "sideways", lang="zh-CN")
    a = make_analysis()
    path = st.slide_compare(a, 0.6, "overlay", lang="zh-CN")
    assert path.endswith("_compare_zh-CN.png") and Image.open(path).format == "PNG"
    row = st.slide_maps(a, "fcn16s", 2, "raw score", lang="ru")
    assert row.endswith("_maps_fcn16s_ru.png") and Image.open(row).width > 1000
    with pytest.raises(InputError):
        st.slide_maps(a, "../etc", 2, "raw score", lang="ru")
