"""The receptive-field what-if (fcn_demo.page.reach) and the linked views' pixel (fcn_demo.page.linked):
at the app's working size every box covers the photo; at a bigger one the four fields are smaller
than the photo and differ, from the registry's own arithmetic; a forged pixel is refused."""

from __future__ import annotations

import numpy as np
import pytest

from fcn_demo.core.inputs import InputError
from fcn_demo.models import VARIANTS, build_model
from fcn_demo.page import linked, reach

FIELDS = {n: build_model(n).receptive_field() for n in VARIANTS}
RGB = np.full((300, 400, 3), 128, np.uint8)
# A probe's record: the middle pixel, measured at 256x352 working pixels, each model's 90% radius there.
ASKED = reach.Asked(200, 150, (300, 400), (256, 352), {"fcn32s": 60.0, "fcn16s": 45.0, "fcn8s": 30.0, "unet": 12.0})


def areas(short: int) -> dict[str, float]:
    ws, drawn = reach.boxes(ASKED, FIELDS, short)
    return {n: (b[2] - b[0] + 1) * (b[3] - b[1] + 1) / (ws[0] * ws[1]) for n, (_, _, b) in drawn.items()}


def test_at_the_apps_size_the_boxes_cover_nearly_all_the_photo():
    assert all(a > 0.85 for a in areas(256).values())
    _, drawn = reach.boxes(ASKED, FIELDS, 256)
    assert all(b[0] == 0 and b[2] == 255 for _, _, b in drawn.values()), "every field is taller than the photo"


def test_at_a_bigger_size_the_four_fields_are_smaller_than_the_photo_and_differ():
    big = areas(reach.DEFAULT)
    assert all(a < 0.15 for a in big.values()), big
    # The registry's widths: FCN-32s's field is the narrowest, U-Net's the widest; the skips widen FCN-16s/8s's.
    assert big["fcn32s"] < big["fcn16s"] == big["fcn8s"] < big["unet"]
    ws, drawn = reach.boxes(ASKED, FIELDS, 1024)
    assert ws == (1024, 1376)
    for n, (_box, radius, work_box) in drawn.items():
        # An interior pixel's box: the field's width, less what its place in the stride-32 grid trims.
        assert FIELDS[n].size() - 40 < work_box[2] - work_box[0] + 1 <= FIELDS[n].size()
        assert radius == pytest.approx(ASKED.radius[n] * 300 / 1024), "the circle keeps its working pixels"


def test_the_panel_draws_every_model_and_says_it_in_every_language():
    for lang in ("en", "zh-CN", "ru"):
        html = reach.panel(RGB, ASKED, FIELDS, 1024, "<b>photo</b>", lang)
        assert html.count("<li>") == len(VARIANTS) and 'data-short="1024"' in html
        assert "<b>photo</b>" not in html and "&lt;b&gt;photo&lt;/b&gt;" in html, "the image's name is escaped"
    assert "1376x1024" in reach.panel(RGB, ASKED, FIELDS, 1024, "x") and "FCN-32s" in reach.panel(
        RGB, ASKED, FIELDS, 1024, "x"
    )
    assert 'class="empty"' in reach.panel(RGB, None, FIELDS, 1024, "x")
    assert 'class="empty"' in reach.panel(np.zeros((10, 10, 3), np.uint8), ASKED, FIELDS, 1024, "x"), "another image"


@pytest.mark.parametrize("forged", [10**9, -5, float("nan"), "1e9", None, True])
def test_a_forged_size_is_brought_into_range(forged):
    assert reach.SIZES[0] <= reach.checked(forged) <= reach.SIZES[1]


def test_the_scripts_pixel_and_forgeries():
    assert linked.pixel("0.5,0.25,7", (300, 400)) == (200, 75)
    assert linked.pixel("0.99999,0", (300, 400)) == (399, 0)
    for forged in [None, "", "1,1", "-0.1,0.5", "nan,0.5", "inf,0", "0.5", "0.1,0.2,3,4", "a,b", "0.5," * 40, 7]:
        with pytest.raises(InputError):
            linked.pixel(forged, (300, 400))


def test_the_scripts_words_come_in_every_language_and_cannot_end_the_script():
    head = linked.head()
    assert head.startswith("<script>") and head.count("</script>") == 1
    assert "__WORDS__" not in head and '"zh-CN"' in head and '"ru"' in head
