"""The drawn architecture (page.architecture, on the Skip-layer maps tab) as a map of the page: a
block opens the view it matches, with the mouse or the keyboard (issue 24, item 2)."""

from __future__ import annotations

import pytest
from browser import ABLATION, MAPS, serious, show, tab

pytestmark = pytest.mark.slow

LESSONS = "Confidence and upsampling"
IN_VIEW = """s => { const r = document.querySelector(s).getBoundingClientRect();
                    return r.top >= 0 && r.bottom <= innerHeight + 1 && r.height > 0; }"""


def block(page, model: str, selector: str):
    return page.locator(f'figure.arch-figure[data-model="{model}"] svg.wide {selector}')


def test_architecture_blocks_open_their_views(page):
    show(page)
    tab(page, MAPS)
    # a score block: the model's row of skip maps, scrolled to that map and marked
    score = block(page, "fcn8s", '[data-block="score_pool4"]')
    assert score.get_attribute("role") == "button" and score.get_attribute("tabindex") == "0"
    assert "score_pool4" in score.get_attribute("aria-label")
    score.focus()
    page.keyboard.press("Enter")
    target = '#maps-out [data-model="fcn8s"] [data-map="score_pool4"]'
    page.wait_for_function(IN_VIEW, arg=target, timeout=10_000)
    assert "spotlight" in page.locator(target).get_attribute("class")
    # a skip sum: the Ablation tab, that switch focused and marked
    block(page, "fcn16s", '[data-block="+"][data-skip="pool4"]').focus()
    page.keyboard.press(" ")
    page.get_by_role("tab", name=ABLATION, selected=True).wait_for(timeout=10_000)
    page.wait_for_function("() => document.activeElement === document.querySelector('#skip-fcn16s-pool4 input')")
    assert "spotlight" in page.locator("#skip-fcn16s-pool4").get_attribute("class")
    # a 2x transposed convolution: the Lessons tab's what-if, its kernel slider focused
    tab(page, MAPS)
    block(page, "fcn8s", '[data-block="upscore2"]').first.click()
    page.get_by_role("tab", name=LESSONS, selected=True).wait_for(timeout=10_000)
    page.wait_for_function(IN_VIEW, arg="#whatif-kernel", timeout=10_000)
    page.wait_for_function("() => document.querySelector('#whatif-kernel').contains(document.activeElement)")
    tab(page, "Compare the models")


def test_the_clickable_architecture_passes_axe(page):
    show(page)
    tab(page, MAPS)
    bad = serious(page, "#architecture")
    assert not bad, bad
    tab(page, "Compare the models")
