"""The transposed-convolution what-if (page.whatif) counts overlaps right and says so in words."""

import numpy as np
import pytest

from fcn_demo.core.i18n import LOCALES, text
from fcn_demo.page import whatif


def by_hand(kernel: int, stride: int, rows: range) -> np.ndarray:
    """Per axis, output pixel p gets one tap from every input cell i with 0 <= p - i*stride < kernel."""
    axis = np.array([sum(0 <= p - i * stride < kernel for i in range(p // stride + 1)) for p in rows])
    return np.outer(axis, axis)


@pytest.mark.parametrize("kernel", whatif.KERNELS)
@pytest.mark.parametrize("stride", whatif.STRIDES)
def test_counts_match_the_arithmetic_and_the_checkerboard_rule(kernel, stride):
    counts = whatif.overlap_counts(kernel, stride)
    assert counts.shape == (whatif.SHOW, whatif.SHOW)
    np.testing.assert_array_equal(counts, by_hand(kernel, stride, range(kernel, kernel + whatif.SHOW)))
    even = kernel % stride == 0
    assert (whatif.unevenness(counts) == 0) == even
    if even:
        assert counts.min() == (kernel // stride) ** 2


def test_the_sentence_names_the_case_in_every_language():
    assert "checkerboard" in whatif.sentence(3, 2) and "flat" in whatif.sentence(4, 2)
    assert "no kernel tap" in whatif.sentence(1, 2)
    for lang in LOCALES:
        said = whatif.sentence(3, 2, lang)
        assert said == text(lang, "gen.whatif.checkerboard", k=3, s=2, lo=1, hi=4)
        assert (said == whatif.sentence(3, 2, "en")) == (lang == "en")


def test_the_picture_shows_each_count_in_its_own_cell():
    im = whatif.picture(whatif.overlap_counts(3, 2), px=20)
    assert im.size == (20 * whatif.SHOW, 20 * whatif.SHOW)
    grey = np.asarray(im.convert("L"), dtype=float)
    # darker cells hold more taps: the cell with 4 taps is darker than the one with 1
    counts = whatif.overlap_counts(3, 2)
    r4, c4 = np.argwhere(counts == 4)[0]
    r1, c1 = np.argwhere(counts == 1)[0]
    assert grey[r4 * 20 + 2, c4 * 20 + 2] < grey[r1 * 20 + 2, c1 * 20 + 2]


@pytest.mark.parametrize("bad", [0, 9, 2.5, "3", None, True, float("nan"), [4]])
def test_the_sliders_values_are_checked(bad):
    from fcn_demo.core.inputs import InputError

    with pytest.raises(InputError, match="kernel must be a whole number from 1 to 8"):
        whatif.checked(bad, 2)
    with pytest.raises(InputError, match="stride must be a whole number from 1 to 4"):
        whatif.checked(4, bad if bad != 9 else 5)
    assert whatif.checked(4.0, 2) == (4, 2)


def test_the_panel_shows_the_picture_the_case_and_the_models_own_kernel():
    html = whatif.panel(3, 2, "en", learned=((4, 2),))
    assert html.count("<img") == 1 and "checkerboard" in html
    assert "kernel 4 and stride 2" in html and "flat input stays flat" in html
    assert "kernel 4" not in whatif.panel(3, 2, "en")  # nothing about the models when none is loaded
