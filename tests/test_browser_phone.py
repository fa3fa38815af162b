"""Phones first (issue 24, item 6), in headless Chromium at 390x844: the Compare tab shows one panel
at a time, every figure's text is at least 11 px on the screen, a finger paints the exercise and
its grade counts the stroke; and at a desk in Russian every tab shows in the tab bar."""

from __future__ import annotations

import pytest
from browser import DESK, PHONE, SAMPLE, TAB_NAMES, VARIANTS, opened, pick, reachable, shoot

pytestmark = pytest.mark.slow

PANELS = [*(f"panel-{n}" for n in VARIANTS), "panel-truth", "panel-disagree"]  # the Compare tab's cards
SMALLEST = 11  # px: the least text height a figure may show on the screen
VISIBLE = "ids => ids.filter(id => { const r = document.getElementById(id).getBoundingClientRect(); return r.width > 0 && r.height > 0; })"  # fmt: skip


def open_tab(pg, tab_id: str) -> None:
    """Open a tab from the phone's tab list (app.py's #tab-picker) and wait until it is shown."""
    pg.locator(f"#tab-picker label:has(input[value={tab_id}])").click()
    pg.locator(f"#tabs button[data-tab-id={tab_id}][aria-selected=true]").wait_for(state="attached", timeout=10_000)
    pg.wait_for_timeout(300)


def test_phone_compares_the_models_one_panel_at_a_time(browser, app_url):
    with opened(browser, app_url, PHONE) as pg:
        pick(pg, SAMPLE)
        picker = pg.locator("#panel-picker")
        assert picker.is_visible(), "no panel switcher on a phone"
        for i, panel in enumerate(PANELS):
            choice = pg.locator(f"#panel-picker label:has(input[value={panel.removeprefix('panel-')}])")
            reachable(pg, choice, PHONE["width"])
            if i:  # the first panel shows before any choice
                choice.click()
            pg.wait_for_function(f"() => ({VISIBLE})({PANELS}).join() === '{panel}'", timeout=10_000)
            box = pg.locator(f"#{panel}").bounding_box()
            assert box["height"] < PHONE["height"], f"{panel} is taller than the screen: {box}"
        height = pg.evaluate("document.documentElement.scrollHeight")
        print(f"the phone's Compare page scrolls {height} px with one panel shown")
        pg.locator("#panel-picker label:has(input[value=fcn8s])").click()
        pg.locator("#panels").scroll_into_view_if_needed()
        shoot(pg, "phone_compare.png")
    with opened(browser, app_url, DESK) as pg:
        pick(pg, SAMPLE)
        assert not pg.locator("#panel-picker").is_visible(), "the panel switcher shows on a desk"
        assert pg.evaluate(VISIBLE, PANELS) == PANELS, "a desk shows every panel side by side"


def figure_text(pg) -> list[dict]:
    """Every figure shown in the open tab that says the height of its smallest text (data-text-px,
    in its own pixels), with that height on the screen: its displayed width over its natural one."""
    return pg.eval_on_selector_all(
        "#tabs img[data-text-px], #tabs svg[data-text-px], #tabs svg.architecture",
        """els => els.filter(e => e.getBoundingClientRect().width > 0).map(e => {
             const shown = e.getBoundingClientRect().width;
             const natural = e.naturalWidth || e.viewBox.baseVal.width;
             const px = e.dataset.textPx ? +e.dataset.textPx
               : Math.min(...[...e.querySelectorAll('text')].map(t => +t.getAttribute('font-size')));
             return {what: (e.alt || e.getAttribute('aria-label') || e.getAttribute('class')).slice(0, 40), px: px * shown / natural};
           })""",
    )


# Per tab, the figures it must show, each saying its text size: (tab id, selector, at least how many).
FIGURES = [("maps", "#maps-out img", len(VARIANTS)), ("lessons", "#upsampling img", 2), ("lessons", "#whatif-out img", 1),
           ("metrics", "#iou-bars img", 1), ("metrics", "#curves img", 2), ("replay", ".replay-charts svg", 2)]  # fmt: skip


def test_phone_figures_text_is_at_least_11_px(browser, app_url):
    with opened(browser, app_url, PHONE) as pg:
        pick(pg, SAMPLE)
        seen, unsaid = [], []
        for tab in dict.fromkeys(t for t, _, _ in FIGURES):
            open_tab(pg, tab)
            for _, sel, least in (f for f in FIGURES if f[0] == tab):
                pg.locator(sel).first.wait_for(timeout=60_000)
                shown = pg.locator(sel)
                assert shown.count() >= least, f"{tab}: {shown.count()} of {sel}"
                if pg.locator(f"{sel}[data-text-px]").count() != shown.count():
                    unsaid.append(sel)
            pg.wait_for_timeout(300)  # the replay sizes its text to its shown width
            seen += [{**f, "tab": tab} for f in figure_text(pg)]
        print("figure text on a phone (px):", sorted({(f["tab"], round(f["px"], 1)) for f in seen}))
        assert not unsaid, f"figures that do not say their text size: {unsaid}"
        small = [f for f in seen if f["px"] < SMALLEST - 0.01]
        assert not small, f"figure text under {SMALLEST} px on a phone: {small}"
        open_tab(pg, "maps")
        pg.locator("#maps-out img").first.scroll_into_view_if_needed()
        shoot(pg, "phone_maps.png")


def touch_drag(pg, points: list[tuple[float, float]]) -> None:
    """A finger pressed on the first point, drawn through the others and lifted (CDP touch events)."""
    cdp = pg.context.new_cdp_session(pg)
    send = cdp.send
    send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
    for x, y in points[1:]:
        send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        pg.wait_for_timeout(16)
    send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def overlaps(a: dict, b: dict) -> bool:
    across = a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
    return across and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_phone_paints_the_pet_with_a_finger(browser, app_url):
    with opened(browser, app_url, PHONE, has_touch=True, is_mobile=True) as pg:
        pick(pg, SAMPLE)
        open_tab(pg, "exercise")
        canvas = pg.locator("#editor .pixi-target canvas")
        canvas.scroll_into_view_if_needed()
        pg.wait_for_timeout(800)  # the editor fits the photo to its canvas
        area = pg.locator("#editor .pixi-target").bounding_box()
        for bar in ("#editor .toolbar-wrap", "#editor .top-panel"):
            box = pg.locator(bar).bounding_box()
            assert not overlaps(box, area), f"{bar} {box} covers the picture's area {area}"
        for tool in pg.locator("#editor .toolbar-wrap button").all():
            b = tool.bounding_box()
            assert min(b["width"], b["height"]) >= 24, f"a paint tool is too small for a finger: {b}"
        pg.locator("#grade").tap()  # nothing painted yet: the grade says so
        pg.locator("#grade-out").get_by_text("paint", exact=False).first.wait_for(timeout=30_000)
        assert not pg.locator("#grade-out table").count()
        area = pg.locator("#editor .pixi-target").bounding_box()  # after any scroll
        cx, cy = area["x"] + area["width"] / 2, area["y"] + area["height"] / 2
        touch_drag(pg, [(cx - 50 + 5 * i, cy - 40 + 4 * i) for i in range(21)])
        shoot(pg, "phone_paint.png", of=pg.locator("#editor"))
        pg.locator("#grade").tap()
        pg.wait_for_selector("#grade-out table", timeout=30_000)
        rows = pg.locator("#grade-out tbody tr").all_inner_texts()
        assert rows[0].startswith("You") and len(rows) == 1 + len(VARIANTS), rows
        pixel_acc, miou = (float(x) for x in rows[0].split()[1:3])
        assert 0 < miou < 1 and 0 < pixel_acc < 1, rows[0]


def test_russian_shows_every_tab_at_a_desk(browser, app_url):
    with opened(browser, app_url, DESK, locale="ru-RU") as pg:
        pg.get_by_role("tab", name="Сравнить модели").wait_for()  # the page speaks Russian
        tabs = pg.locator("#tabs [role=tab]")
        shown = [t.inner_text() for t in tabs.all() if t.is_visible()]
        assert len(shown) == len(TAB_NAMES), f"only {shown} show; the rest are in the tab bar's menu"
        assert not pg.get_by_role("button", name="More tabs").is_visible()
        for t in tabs.all():
            reachable(pg, t, DESK["width"])
        shoot(pg, "ru_tabs.png")
