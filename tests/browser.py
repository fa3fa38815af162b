"""What the browser tests share: Debian's Chromium through Playwright, the page fixtures and the
helpers that open a tab, pick a sample, wait for a redraw and take a screenshot (each browser test
module imports them: ``from browser import *``). Skips when Chromium or Playwright is missing."""

from __future__ import annotations

import base64
import io
import re
import shutil
from contextlib import contextmanager, suppress
from pathlib import Path

import conftest
import numpy as np
import pytest
from PIL import Image

from fcn_demo.core.samples import list_samples
from fcn_demo.models import VARIANTS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
DESK, PHONE, PROJECTOR = {"width": 1440, "height": 900}, {"width": 390, "height": 844}, {"width": 1280, "height": 720}
SAMPLES = [s.name for s in list_samples()]  # the gallery's order
SHOTS = conftest.SHOTS  # where screenshots go (test_i18n and test_zerogpu take theirs there too)
SAMPLE = "Bengal_193"  # the desk page's image (the README's screenshots)
TITLES = {n: v.title for n, v in VARIANTS.items()}
SKIP_NETS = [n for n, v in VARIANTS.items() if v.skips]
COMPARE, MAPS, ABLATION = "Compare the models", "Skip-layer maps", "Live skip ablation"
TAB_NAMES = [COMPARE, "Ask a pixel", MAPS, ABLATION, "Confidence and upsampling", "Training replay",
             "Your turn: paint the pet", "Metrics"]  # fmt: skip
MODEL_IMGS = ", ".join(f"#panel-{n} img" for n in VARIANTS)  # the four models' pictures (not the other cards')
# What a student can tap or type into (inputs that Gradio hides inside a label are tapped through it;
# a disabled button, such as an image editor's tool with nothing to act on yet, is not asked to be).
CONTROLS = ", ".join(f"{c}:not([disabled]):visible" for c in ("button", "input[type=range]", "input[type=number]",
                     "input[type=text]", "textarea", "select", "label:has(input[type=radio])",
                     "label:has(input[type=checkbox])"))  # fmt: skip


def launch():
    """Debian's Chromium, headless (conftest's ``browser`` fixture), or a skip when it is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@contextmanager
def opened(browser, url: str, viewport: dict, **context):
    """A fresh page on the app at ``viewport``, the gallery loaded (``context``: Playwright's
    new_context options, e.g. locale="ru", has_touch=True, is_mobile=True)."""
    ctx = browser.new_context(viewport=viewport, device_scale_factor=1, **context)
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    try:
        pg.goto(url, wait_until="load")
        pg.wait_for_selector("#samples img")
        yield pg
    finally:
        ctx.close()


# ---------------------------------------------------------------------------- helpers


def shoot(page, name: str, of=None, settle: int = 300, **kw) -> None:
    """Save a screenshot of ``page`` (or of the locator ``of``) as SHOTS/``name`` after ``settle`` ms for
    the last redraw, when the run keeps screenshots (--screenshots DIR); otherwise take none."""
    if not conftest.KEEP_SHOTS:
        return
    page.wait_for_timeout(settle)
    (of or page).screenshot(path=SHOTS / name, **kw)


def pick(page, name: str) -> None:
    """Click sample ``name`` in the gallery and wait until every panel shows it."""
    page.locator("#samples img").nth(SAMPLES.index(name)).click()
    wait_for_image(page, name)


def wait_for_image(page, name: str, timeout: float | None = None) -> None:
    page.wait_for_function(
        """([name, imgs, n]) => document.querySelector('#status .status')?.dataset.image === name
             && [...document.querySelectorAll(imgs)].filter(i => i.alt.includes(` of ${name} `)).length === n""",
        arg=[name, MODEL_IMGS, len(VARIANTS)],
        timeout=timeout,
    )


def settles_on(page, name: str) -> None:
    """After quick inputs, the page ends up showing ``name`` (a sample, or "your photo") everywhere on
    the Compare tab, and stays so: no answer to an older input lands later."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with suppress(PlaywrightTimeout):  # the assertions below say what the page shows instead
        wait_for_image(page, name, timeout=60_000)
    page.wait_for_timeout(3000)  # a stale answer still on its way would land now
    status = page.locator("#status .status")
    assert status.get_attribute("data-image") == name, f"the status shows {status.inner_text()!r}, not {name}"
    assert texts_of(page, MODEL_IMGS) == [f"{t} mask of {name} over the photo" for t in TITLES.values()]
    others = texts_of(page, "#panels img")
    assert all(names(a, name) for a in others), f"a card on the Compare tab shows another image: {others}"


def show(page, name: str = SAMPLE) -> None:
    """Make ``page`` show the Compare tab for sample ``name`` (segmenting it only if needed)."""
    tab(page, COMPARE)
    if page.locator("#status .status").get_attribute("data-image") != name:
        pick(page, name)


def tab(page, name: str) -> None:
    """Open tab ``name``: from the tab bar, or on a phone from the tab list (app.py's #tab-picker)."""
    button = page.get_by_role("tab", name=name)
    if button.count() and button.is_visible():
        button.click()
    else:
        page.locator("#tab-picker label", has_text=name).click()
    page.get_by_role("tab", name=name, selected=True, include_hidden=True).wait_for(state="attached")
    page.wait_for_timeout(300)


def wait_alts(page, selector: str, part: str) -> None:
    """Wait until every picture in ``selector`` has ``part`` in its alt text (the redraw landed)."""
    page.wait_for_function(
        "([sel, part]) => { const imgs = [...document.querySelectorAll(sel)];"
        " return imgs.length > 0 && imgs.every(i => i.alt.includes(part)); }",
        arg=[selector, part],
    )


def picture(img) -> np.ndarray:
    """The pixels of an inline ``<img>`` (a data URL), as the server drew them."""
    src = img.get_attribute("src")
    assert src and src.startswith("data:image/"), f"not an inline picture: {str(src)[:60]}"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"), dtype=np.float32)


def panel_img(page, name: str):
    return page.locator(f"#panel-{name} img.panel-img")


def download(page, folder: Path) -> Path:
    """Click "Download masks" and save the file in ``folder``."""
    with page.expect_download() as info:
        page.locator("#download").click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def top_after_scrolling(page, selector: str, below: float) -> float:
    """Where ``selector``'s top ends up once the page's smooth scroll brought it above ``below`` (or gave up)."""
    top = page.locator(selector).bounding_box()["y"]
    for _ in range(50):
        page.wait_for_timeout(200)
        top, last = page.locator(selector).bounding_box()["y"], top
        if top <= below and top == last:
            break
    return top


def reachable(page, locator, width: int) -> None:
    """``locator`` can be tapped: visible, not covered, inside the screen's width (no sideways scroll)."""
    locator.scroll_into_view_if_needed()
    locator.click(trial=True, timeout=10_000)  # Playwright's actionability checks, without the click
    box = locator.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{locator} is outside the screen: {box}"


def names(text: str | None, image: str) -> bool:
    """Whether ``text`` names ``image`` (as a whole word: Bengal_27 is not Bengal_270)."""
    return re.search(rf"(?<!\w){re.escape(image)}(?!\w)", text or "") is not None


def texts_of(page, selector: str, attr: str = "alt") -> list[str]:
    return page.eval_on_selector_all(selector, f"els => els.map(e => e.getAttribute('{attr}'))")


def paint(page, reach: int = 40) -> None:
    """A brush stroke across the middle of the exercise's canvas (``reach`` px either side)."""
    canvas = page.locator("#editor canvas").first
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - reach, cy - reach)
    page.mouse.down()
    for i in range(10):
        page.mouse.move(cx - reach + reach * i / 5, cy - reach + reach * i / 4, steps=2)
    page.mouse.up()


# Animations still running (Gradio fades a new output in; an infinite one, a spinner, never ends).
MOVING = """() => document.getAnimations().filter(a => a.playState === 'running'
  && a.effect && a.effect.getComputedTiming().iterations !== Infinity).length"""


def serious(page, context: str | None = None) -> list[str]:
    """axe-core's critical and serious violations on ``page`` (within the selector ``context``), each
    as "rule [first node]", run once nothing moves: a colour read halfway through a fade is not the
    page's colour."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="pip install axe-playwright-python")
    page.wait_for_function(f"() => ({MOVING})() === 0", timeout=10_000)
    found = axe.Axe().run(page, **({"context": context} if context else {})).response["violations"]
    return [f"{v['id']} {v['nodes'][0]['target']}" for v in found if v["impact"] in ("critical", "serious")]
