"""The page as a person sees it: headless Chromium (Debian's, through Playwright) against the app.

Saves the screenshots the README shows to docs/screenshots/. Skips when Chromium or Playwright
is missing; CI installs both (`apt-get install chromium chromium-driver`, `pip install playwright`).
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fcn_demo.data import REPO_ROOT
from fcn_demo.models import VARIANTS

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO_ROOT / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def page(app_url):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
        pg.set_default_timeout(120_000)
        pg.goto(app_url, wait_until="load")
        pg.wait_for_selector("#samples img")
        yield pg
        browser.close()


def _element_pixels(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), dtype=np.float32)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(400)


def test_sample_fills_four_panels(page):
    page.locator("#samples img").nth(4).click()
    for name in VARIANTS:
        page.wait_for_selector(f"#panel-{name} .panel-image img")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Segmented')")
    for name in VARIANTS:
        pixels = _element_pixels(page.locator(f"#panel-{name} .panel-image img"))
        assert pixels.std() > 10, f"{name} panel looks blank"
    assert "pixel acc" in page.locator(f"#panel-{next(iter(VARIANTS))}").inner_text()
    page.wait_for_timeout(500)
    page.screenshot(path=SHOTS / "compare.png", full_page=True)


def test_download_masks(page, tmp_path):
    with page.expect_download() as info:
        page.locator("#download").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name.endswith("_masks.zip")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert sorted(n for n in names if n.endswith(".png")) == sorted(
        f"{path.name.removesuffix('_masks.zip')}_{n}.png" for n in VARIANTS
    )


def test_error_map_toggle(page):
    name = next(iter(VARIANTS))
    img = page.locator(f"#panel-{name} .panel-image img")
    before = img.get_attribute("src")
    page.locator(f"#panel-{name}").get_by_label("error map").check()
    page.wait_for_function(
        "([sel, src]) => document.querySelector(sel)?.getAttribute('src') !== src",
        arg=[f"#panel-{name} .panel-image img", before],
    )
    page.wait_for_timeout(300)
    page.locator("#panels").screenshot(path=SHOTS / "error_map.png")
    page.locator(f"#panel-{name}").get_by_label("error map").uncheck()


def test_skip_maps_tab(page):
    _tab(page, "Skip-layer maps")
    page.wait_for_selector(".heatmap img")
    assert page.locator(".heatmap img").count() == len(VARIANTS)
    page.screenshot(path=SHOTS / "skip_maps.png", full_page=True)


def test_live_ablation(page):
    _tab(page, "Live skip ablation")
    page.wait_for_selector("#ablate-8 img")
    page.get_by_label("pool3 skip (stride 8)").uncheck()
    # The stats line names what was removed once the re-run is back (the mask itself only changes
    # where pool3 mattered, which a random-weight test checkpoint may not show).
    page.get_by_text("removed: pool3", exact=False).wait_for()
    page.screenshot(path=SHOTS / "ablation.png", full_page=True)
    page.get_by_label("pool3 skip (stride 8)").check()


def test_training_replay_plays_in_the_browser(page):
    _tab(page, "Training replay")
    label = page.locator("#replay .replay-epoch")
    label.wait_for()
    assert label.inner_text().startswith("Epoch 0")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.locator("#replay .replay-play").click()
    page.wait_for_function("() => !document.querySelector('#replay .replay-epoch').innerText.startsWith('Epoch 0')")
    page.wait_for_timeout(1500)
    assert not label.inner_text().startswith("Epoch 0")
    assert requests == [], f"playback must not call the server: {requests}"
    page.locator("#replay .replay-play").click()  # pause
    page.screenshot(path=SHOTS / "replay.png", full_page=True)


def test_metrics_tab(page):
    _tab(page, "Metrics")
    page.wait_for_selector("#provenance")
    page.wait_for_selector("#iou-bars img")  # the charts are drawn on the first visit
    page.wait_for_selector("#curves img")
    assert "FCN-8s" in page.locator("#provenance").inner_text()
    page.screenshot(path=SHOTS / "metrics.png", full_page=True)


def test_bad_upload_shows_a_message_and_the_page_keeps_working(page, tmp_path):
    _tab(page, "Compare the models")
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)  # a JPEG cut off after its first bytes
    clear = page.locator("#image-in").get_by_role("button", name="Clear")
    if clear.count():
        clear.first.click()
    page.locator("#image-in input[type=file]").set_input_files(str(bad))
    page.get_by_text("truncated", exact=False).first.wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SHOTS / "bad_input.png")
    page.locator("#samples img").nth(9).click()
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('american_bulldog')")
