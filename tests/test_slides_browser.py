"""Export for slides in a real browser set to zh-CN: the Compare tab's and the Skip-layer maps tab's
buttons download a PNG made on the server, its title drawn in Chinese."""

from __future__ import annotations

import numpy as np
import pytest
from browser import SAMPLE, SAMPLES
from PIL import Image

from fcn_demo.core.i18n import text
from fcn_demo.page import slides

pytestmark = pytest.mark.slow


def test_a_teacher_exports_the_compare_row_and_a_map_row_in_chinese(browser, app_url, tmp_path):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900}, accept_downloads=True)
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(app_url, wait_until="load")
        page.wait_for_function("() => /[\\u4e00-\\u9fff]/.test(document.querySelector('#status .status')?.innerText)")
        page.locator("#samples img").nth(SAMPLES.index(SAMPLE)).click()
        page.wait_for_function(
            "(name) => document.querySelector('#status .status')?.dataset.image === name", arg=SAMPLE
        )
        with page.expect_download() as got:
            page.locator("#slide-compare").click()
        path = tmp_path / got.value.suggested_filename
        got.value.save_as(path)
        assert path.name == f"{SAMPLE}_compare_zh-CN.png"
        slide = np.asarray(Image.open(path).convert("RGB"))
        width = slide.shape[1] - 2 * slides.PAD
        said = text("zh-CN", "gen.slide.compare", image=SAMPLE)
        title = np.asarray(slides._block(slides._lines(said, 34, width), 34, width))
        top = slides.PAD
        assert np.array_equal(slide[top : top + title.shape[0], top : top + width], title)
        page.get_by_role("tab", name="跳跃层图").click()
        page.locator("#slide-maps").scroll_into_view_if_needed()
        with page.expect_download() as got:
            page.locator("#slide-maps").click()
        assert got.value.suggested_filename == f"{SAMPLE}_maps_unet_zh-CN.png"
    finally:
        context.close()
