"""The presenter view (issue 24, item 5): on a classroom projector (1280x720) the "present" box
makes the pictures and their captions larger, not only the text."""

from __future__ import annotations

import pytest
from browser import MAPS, PROJECTOR, SAMPLE, opened, pick, shoot, tab

pytestmark = pytest.mark.slow

PICTURES = ["#panel-fcn8s img.panel-img", "#maps-out img", "#ablate-fcn8s img"]  # one per tab below
CAPTIONS = ["#panel-fcn8s .legend", "#panel-fcn8s .panel-stats", "#maps-out figcaption"]
TABS = ["Compare the models", MAPS, "Live skip ablation"]
WIDTH = "s => document.querySelector(s).getBoundingClientRect().width"
SIZE = "s => parseFloat(getComputedStyle(document.querySelector(s)).fontSize)"


def measure(pg) -> tuple[list[float], list[float]]:
    """The displayed width of one picture of each tab, and the font size of the captions."""
    widths = []
    for name, sel in zip(TABS, PICTURES):
        tab(pg, name)
        widths.append(pg.evaluate(WIDTH, sel))
    tab(pg, MAPS)
    sizes = [pg.evaluate(SIZE, s) for s in CAPTIONS]
    tab(pg, TABS[0])
    return widths, sizes


def test_presenter_view_makes_pictures_and_captions_larger(browser, app_url):
    with opened(browser, app_url, PROJECTOR) as pg:
        pick(pg, SAMPLE)
        widths, sizes = measure(pg)
        present = pg.get_by_label("Presentation mode", exact=False)
        present.check()
        pg.wait_for_function("() => document.documentElement.classList.contains('present')")
        pg.wait_for_timeout(300)
        big_widths, big_sizes = measure(pg)
        print(f"at 1280x720, picture widths {widths} -> {big_widths}; caption px {sizes} -> {big_sizes}")
        for sel, a, b in zip(PICTURES, widths, big_widths):
            assert b >= 1.25 * a, f"{sel} is {a:.0f} px wide, and {b:.0f} px in the presenter view"
            assert b <= PROJECTOR["width"], f"{sel} is wider than the screen: {b:.0f} px"
        for sel, a, b in zip(CAPTIONS, sizes, big_sizes):
            assert b >= 1.15 * a, f"{sel}'s text is {a} px, and {b} px in the presenter view"
        pg.locator("#panels").scroll_into_view_if_needed()
        shoot(pg, "present_compare.png")
        present.uncheck()
        pg.wait_for_function("() => !document.documentElement.classList.contains('present')")
        assert measure(pg) == (widths, sizes)
