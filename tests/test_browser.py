"""The page as a person sees it: headless Chromium (Debian's, through Playwright) against the app.

A student at a desk (1440x900), on a phone (390x844) and a class in front of a projector (1280x720):
results that belong to the last click only, no sideways scrolling, results in view, axe-core's
accessibility rules, the keyboard. Takes the screenshots the README shows, kept only with
--screenshots DIR (`python bench/screenshots.py` writes them into docs/screenshots/).
Skips when Chromium or Playwright is missing; CI installs both (`apt-get install chromium
chromium-driver`, `pip install -r requirements-dev.txt`).
"""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
from browser import (  # the helpers (conftest has the fixtures browser and page)
    ABLATION,
    COMPARE,
    CONTROLS,
    DESK,
    MAPS,
    MODEL_IMGS,
    PHONE,
    PROJECTOR,
    SAMPLE,
    SAMPLES,
    SKIP_NETS,
    TAB_NAMES,
    TITLES,
    VARIANTS,
    download,
    names,
    opened,
    page_width,
    paint,
    panel_img,
    pick,
    picture,
    reachable,
    serious,
    settles_on,
    shoot,
    show,
    tab,
    texts_of,
    top_after_scrolling,
    wait_alts,
)
from PIL import Image

from fcn_demo.core.data import REPO_ROOT

pytestmark = pytest.mark.slow
MAPS_SHOWN = sum(len(v.maps) for v in VARIANTS.values())  # the Maps tab's pictures: one a map

# ---------------------------------------------------------------------------- the desk (1440x900)


def test_a_sample_fills_four_panels(page):
    pick(page, SAMPLE)
    for name, title in TITLES.items():
        img = panel_img(page, name)
        assert img.get_attribute("alt") == f"{title} mask of {SAMPLE} over the photo"
        assert picture(img).std() > 10, f"{name} panel looks blank"
        assert "pixel acc" in page.locator(f"#panel-{name}").inner_text()
    shoot(page, "compare.png", settle=500, full_page=True)


def test_three_quick_clicks_show_only_the_last(page, app_url, tmp_path):
    """A newer input supersedes an older one: 150 ms between clicks, only the last sample lands."""
    from gradio_client import Client, handle_file

    show(page)
    clicks = ["Abyssinian_202", "Bengal_45", "american_bulldog_62"]
    assert SAMPLE not in clicks
    last = clicks[-1]
    for i, name in enumerate(clicks):
        if i:
            page.wait_for_timeout(150)
        page.locator("#samples img").nth(SAMPLES.index(name)).click()
    settles_on(page, last)
    assert f"sample {last} " in page.locator("#status .status").inner_text()
    photo = page.locator("#image-in img").get_attribute("src")
    assert photo.endswith(f"/{last}.jpg"), f"'Your photo' is not the last click: {photo}"
    assert download(page, tmp_path).name == f"{last}_masks.zip"

    # The scores are the last sample's: the same numbers as the API gives for it, not the first's.
    client = Client(app_url, verbose=False, download_files=False)
    scores = {}
    for name in (clicks[0], last):
        _, summary = client.predict(handle_file(str(REPO_ROOT / "samples" / f"{name}.jpg")), api_name="/segment")
        scores[name] = {n: m["metrics"] for n, m in summary["models"].items()}
    for n in VARIANTS:
        text = " ".join(page.locator(f"#panel-{n} .panel-stats").inner_text().split())
        want = f"pixel acc {scores[last][n]['pixel_acc']:.3f} mIoU {scores[last][n]['miou']:.3f}"
        assert want in text, f"{n}: {text!r} lacks {want!r}"
    assert scores[clicks[0]] != scores[last], "the check cannot tell the two samples apart"

    tab(page, MAPS)
    assert page.locator("#maps-out .heatmaps").get_attribute("data-image") == last
    alts = texts_of(page, "#maps-out img")
    assert len(alts) == MAPS_SHOWN and all(f" of {last} " in a for a in alts), alts
    tab(page, ABLATION)
    alts = texts_of(page, "#ablation-row img")
    assert len(alts) == len(SKIP_NETS) + 1 and all(f" of {last} " in a for a in alts), alts
    tab(page, COMPARE)


@pytest.mark.heavy  # the race of clicks alone runs by default (test_three_quick_clicks_show_only_the_last)
def test_a_photo_and_a_click_the_newer_wins(page, tmp_path):
    """An upload supersedes a sample click still running, and a click an upload. (An upload counts
    from when its file has reached the server: a click while the file is still on its way is older.)"""
    show(page)

    def upload(sample: str, flip: Image.Transpose) -> None:
        path = tmp_path / f"my_pet_{flip.name}.jpg"  # not a sample any more: no ground truth
        Image.open(REPO_ROOT / "samples" / f"{sample}.jpg").transpose(flip).save(path)
        clear = page.locator("#image-in").get_by_role("button", name="Clear")
        if clear.count():
            clear.first.click()
        with page.expect_request(lambda r: "/queue/join" in r.url):  # the photo's model step is queued
            page.locator("#image-in input[type=file]").set_input_files(str(path))

    page.locator("#samples img").nth(SAMPLES.index("Abyssinian_43")).click()
    page.wait_for_timeout(150)
    upload("Bengal_63", Image.Transpose.FLIP_LEFT_RIGHT)
    settles_on(page, "your photo")
    upload("Bengal_63", Image.Transpose.FLIP_TOP_BOTTOM)
    page.wait_for_timeout(150)
    page.locator("#samples img").nth(SAMPLES.index("american_bulldog_205")).click()
    settles_on(page, "american_bulldog_205")


def test_download_masks(page, tmp_path):
    show(page)
    path = download(page, tmp_path)
    assert path.name == f"{SAMPLE}_masks.zip"
    size = Image.open(REPO_ROOT / "samples" / f"{SAMPLE}.jpg").size
    with zipfile.ZipFile(path) as zf:
        masks = sorted(n for n in zf.namelist() if n.endswith(".png"))
        assert masks == sorted(f"{SAMPLE}_{n}.png" for n in VARIANTS)
        for n in masks:
            assert Image.open(io.BytesIO(zf.read(n))).size == size, f"{n} is not at the image's size"


def test_error_map_toggle(page):
    show(page)
    before = {n: picture(panel_img(page, n)) for n in VARIANTS}
    page.locator("#view-controls").get_by_role("radio", name="error map").check()
    wait_alts(page, MODEL_IMGS, "error map of")
    for n in VARIANTS:
        assert np.abs(picture(panel_img(page, n)) - before[n]).mean() > 1, f"{n}: the error map looks like the overlay"
        assert "% of pixels wrong" in panel_img(page, n).get_attribute("alt")
    shoot(page, "error_map.png", of=page.locator("#panels"))
    page.locator("#view-controls").get_by_role("radio", name="overlay", exact=True).check()
    wait_alts(page, MODEL_IMGS, "over the photo")


def test_arrow_keys_redraw_the_overlay(page):
    """Keyboard users move the opacity slider with the arrow keys: each change redraws."""
    show(page)
    img = panel_img(page, "fcn8s")
    before = img.get_attribute("src")
    slider = page.locator("#view-controls input[type=range]")
    slider.focus()
    for _ in range(3):
        slider.press("ArrowRight")
    page.wait_for_function("(src) => document.querySelector('#panel-fcn8s img.panel-img').src !== src", arg=before)
    assert float(slider.input_value()) == pytest.approx(0.70)
    for _ in range(3):
        slider.press("ArrowLeft")
    page.wait_for_function("(src) => document.querySelector('#panel-fcn8s img.panel-img').src === src", arg=before)


def test_result_images_say_what_they_show(page):
    """Alt text on every result picture names the image, and on every model's picture the model."""
    show(page)
    for name, everything, models in ((COMPARE, "#panels img", MODEL_IMGS), (MAPS, "#maps-out img", "#maps-out img"),
                                     (ABLATION, "#ablation-row img", "#ablation-row img")):  # fmt: skip
        tab(page, name)
        alts = texts_of(page, everything)
        assert alts, f"no pictures in {everything}"
        assert all(names(alt, SAMPLE) for alt in alts), f"{name}: a picture does not name the image: {alts}"
        for alt in texts_of(page, models):
            assert any(alt.startswith(t) for t in TITLES.values()), f"{name}: {alt!r} does not name the model"
        assert len(set(alts)) == len(alts), f"{name}: two pictures share an alt text: {alts}"
    tab(page, COMPARE)


def test_skip_maps_tab(page):
    show(page)
    tab(page, MAPS)
    assert page.locator("#maps-out .heatmaps").get_attribute("data-image") == SAMPLE
    maps = page.locator("#maps-out img.heatmap-img")
    assert page.locator("#maps-out figure.heatmap-row").count() == len(VARIANTS)
    assert maps.count() == MAPS_SHOWN
    assert all("for class pet" in a for a in texts_of(page, "#maps-out img"))
    shoot(page, "skip_maps.png", full_page=True)
    before = picture(maps.first)
    page.locator("#cls").get_by_role("radio", name="border").check()
    wait_alts(page, "#maps-out img", "for class border")
    assert np.abs(picture(maps.first) - before).mean() > 1, "the border class's maps look like the pet's"
    page.locator("#cls").get_by_role("radio", name="pet").check()
    wait_alts(page, "#maps-out img", "for class pet")


def test_live_ablation(page):
    show(page)
    tab(page, ABLATION)
    img = page.locator("#ablate-fcn16s img.panel-img")
    before = picture(img)
    switch = page.get_by_label("FCN-16s: pool4 skip")
    switch.uncheck()
    wait_alts(page, "#ablate-fcn16s img", "with pool4 switched off")
    changed = (np.abs(picture(img) - before).max(axis=2) > 40).mean()
    assert changed > 0.01, f"switching pool4 off changed only {changed:.2%} of FCN-16s's picture"
    assert "switched off: pool4" in page.locator("#ablate-fcn16s").inner_text()
    shoot(page, "ablation.png", full_page=True)
    switch.check()
    wait_alts(page, "#ablate-fcn16s img", "with nothing switched off")


def test_training_replay_plays_in_the_browser(page):
    tab(page, "Training replay")
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
    shoot(page, "replay.png", settle=0, full_page=True)
    tab(page, COMPARE)


def test_metrics_tab(page):
    tab(page, "Metrics")
    page.wait_for_selector("#metrics-table table")
    page.wait_for_selector("#iou-bars img")  # the charts are drawn on the first visit
    page.wait_for_selector("#curves img")
    assert "FCN-8s" in page.locator("#provenance").inner_text()
    assert "FCN-8s" in page.locator("#metrics-table").inner_text()
    shoot(page, "metrics.png", full_page=True)
    tab(page, COMPARE)


def test_a_probe_shows_the_four_fields(page):
    """Ask a pixel: one click on the photo, and every model answers with its receptive fields."""
    show(page)
    tab(page, "Ask a pixel")
    photo = page.locator("#probe-photo img").first
    photo.scroll_into_view_if_needed()
    box = photo.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
    page.wait_for_function("() => document.querySelectorAll('#probe-out .panel img').length === 4")
    alts = texts_of(page, "#probe-out .panel img")
    for title in TITLES.values():
        assert any(a.startswith(title) and names(a, SAMPLE) for a in alts), (title, alts)
    text = page.locator("#probe-out").inner_text()
    assert all(t in text for t in TITLES.values()) and "90%" in text
    fields = [picture(page.locator(f"#probe-out .panel:nth-of-type({i + 1}) img").first) for i in range(4)]
    assert all(f.std() > 5 for f in fields), "each field is drawn over the photo"
    page.locator("#probe-out").scroll_into_view_if_needed()
    shoot(page, "probe.png", settle=0, full_page=True)
    tab(page, COMPARE)


def test_ground_truth_disagreement_and_what_to_notice(page):
    show(page)
    truth, disagree = page.locator("#panel-truth img"), page.locator("#panel-disagree")
    assert names(truth.get_attribute("alt"), SAMPLE) and picture(truth).std() > 5
    assert re.search(r"\d[\d,]* px", disagree.inner_text()), disagree.inner_text()
    notice = page.locator("#compare-notice").inner_text()
    assert re.search(r"\d\.\d\d", notice), f"what to notice is computed from numbers: {notice!r}"
    tab(page, "Confidence and upsampling")
    page.wait_for_function("() => document.querySelectorAll('#confidence-out img').length >= 4")
    assert "border" in page.locator("#confidence-out").inner_text()
    page.wait_for_selector("#upsampling img")
    shoot(page, "lessons.png", full_page=True)
    tab(page, COMPARE)


def test_the_share_link_round_trips(browser, app_url):
    """A link restores the sample, the tab, the opacity, the class and the skip switches, and the
    link the restored page writes is the same link."""
    query = "sample=Bengal_27&tab=ablation&opacity=0.8&show=mask+only&class=border&maps=raw+score&off=fcn8s-pool3"
    with opened(browser, f"{app_url}?{query}", DESK) as pg:
        pg.wait_for_selector('#status [data-sample="Bengal_27"]')
        pg.get_by_role("tab", name=ABLATION, selected=True).wait_for()
        assert not pg.locator("#skip-fcn8s-pool3 input").is_checked()
        assert pg.locator("#skip-fcn8s-pool4 input").is_checked()
        assert "pool3" in pg.locator("#ablate-fcn8s").inner_text()
        pg.locator("#share").click()
        pg.wait_for_function(
            "() => document.querySelector('#share-url textarea, #share-url input').value.includes('?')"
        )
        url = pg.locator("#share-url textarea, #share-url input").first.input_value()
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(url).query) == parse_qs(query), url


@pytest.mark.heavy  # by default the lesson's last step and the phone's finger grade a painting
def test_the_exercise_grades_a_painted_mask(page):
    """Paint a stroke on the sample, grade it: the student's scores beside the four models'."""
    show(page)
    tab(page, "Your turn: paint the pet")
    paint(page)
    page.locator("#grade").click()
    page.wait_for_function("() => document.querySelector('#grade-out table') !== null")
    rows = page.locator("#grade-out tbody tr").all_inner_texts()
    assert rows[0].startswith("You") and len(rows) == 1 + len(VARIANTS)
    you = float(rows[0].split()[2])  # pixel acc, mIoU, border IoU: the stroke covers some of the pet
    assert 0 < you < 1, rows[0]
    assert names(page.locator("#grade-out img").get_attribute("alt"), SAMPLE)
    page.locator("#grade-out").scroll_into_view_if_needed()
    shoot(page, "exercise.png", settle=0, full_page=True)
    tab(page, COMPARE)


def test_presentation_mode_makes_text_larger(page):
    show(page)
    probes = ["#intro p", "#panel-fcn8s .panel-stats", "[role=tab]"]
    size = "(sels) => sels.map(s => parseFloat(getComputedStyle(document.querySelector(s)).fontSize))"
    before = page.evaluate(size, probes)
    box = page.get_by_label("Presentation mode", exact=False)
    box.check()
    page.wait_for_function("() => document.documentElement.classList.contains('present')")
    after = page.evaluate(size, probes)
    assert all(a >= 1.15 * b for a, b in zip(after, before)), f"font sizes {before} -> {after}"
    box.uncheck()
    page.wait_for_function("() => !document.documentElement.classList.contains('present')")
    assert page.evaluate(size, probes) == before


def test_bad_upload_shows_a_message_and_the_page_keeps_working(page, tmp_path):
    tab(page, COMPARE)
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)  # a JPEG cut off after its first bytes
    clear = page.locator("#image-in").get_by_role("button", name="Clear")
    if clear.count():
        clear.first.click()
    page.locator("#image-in input[type=file]").set_input_files(str(bad))
    message = page.get_by_text("truncated", exact=False).first
    message.wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(500)  # the message slides in
    box = message.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= DESK["height"], f"the message is out of view: {box}"
    shoot(page, "bad_input.png", settle=0)
    pick(page, "american_bulldog_25")


# ---------------------------------------------------------------------------- phone, projector, axe-core


def test_phone_no_sideways_scrolling_and_everything_reachable(browser, app_url):
    w = PHONE["width"]
    with opened(browser, app_url, PHONE) as pg:
        assert page_width(pg) == w, "the page scrolls sideways before any image"
        pick(pg, "Bengal_27")
        assert page_width(pg) == w, "the page scrolls sideways after segmenting"
        boxes = pg.evaluate(  # in one frame: the page may still be scrolling to the results
            "ids => ids.map(id => { const r = document.getElementById(id).getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height}; })",
            [f"panel-{n}" for n in VARIANTS],
        )
        shown = [b for b in boxes if b["width"]]  # one card at a time (test_browser_phone has the switcher)
        assert len(shown) == 1, f"the phone shows {len(shown)} model cards at once: {boxes}"
        assert all(b["x"] >= 0 and b["x"] + b["width"] <= w for b in shown), boxes
        above_tabs = [pg.get_by_label("Presentation mode", exact=False), *pg.locator("#image-in button:visible").all(),
                      pg.locator("#run"), *pg.locator("#samples img").all(), pg.locator("#download")]  # fmt: skip
        for c in above_tabs:
            reachable(pg, c, w)
        pg.evaluate("window.scrollTo(0, 0)")
        shoot(pg, "phone.png", full_page=True)
        names = pg.eval_on_selector_all("#tabs [role=tab]", "els => els.map(e => e.textContent.trim())")
        assert names == TAB_NAMES, names
        for name in names:  # a phone goes from tab to tab by its tab list (the tab bar would repeat it)
            reachable(pg, pg.locator("#tab-picker label", has_text=name), w)
            tab(pg, name)
            inside = pg.locator("#tabs [role=tabpanel]:visible").locator(CONTROLS).all()
            assert inside or name not in (MAPS, ABLATION, "Training replay"), f"no controls found in the {name} tab"
            for c in inside:
                reachable(pg, c, w)
            assert page_width(pg) == w, f"the {name} tab scrolls sideways"


def test_projector_brings_the_results_into_view(browser, app_url):
    h = PROJECTOR["height"]
    with opened(browser, app_url, PROJECTOR) as pg:
        assert pg.locator("#panels").bounding_box()["y"] > h, "the panels start in view: this test proves nothing"
        pick(pg, "Abyssinian_63")
        top = top_after_scrolling(pg, "#panels", h - 250)
        assert 0 <= top <= h - 250, f"after a click the panels start at y={top:.0f} of {h}"
        shoot(pg, "projector.png", settle=0)


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["1440x900", "390x844"])
def test_axe_core_finds_no_serious_violations(browser, app_url, viewport):
    """axe-core on the tabs no lesson step opens (tests/test_browser_lesson.py runs it on every step,
    each on its tab, at these sizes and 1280x720), with what a sample puts in them."""
    from fcn_demo.page.handlers import TABS
    from fcn_demo.page.lesson import STEPS

    left = [name for name, tab_id in zip(TAB_NAMES, TABS) if tab_id not in {s.tab for s in STEPS}]
    assert left, "the lesson opens every tab: this test has nothing left to check"
    bad = []
    with opened(browser, app_url, viewport) as pg:
        pick(pg, "Abyssinian_224")
        for name in left:
            tab(pg, name)
            if name == "Metrics":
                pg.wait_for_selector("#curves img")
            bad += [f"{name}: {v}" for v in serious(pg)]
    assert not bad, f"critical/serious axe-core violations: {bad}"


def test_phone_every_tab_opens_from_the_tab_list_without_a_hidden_menu(browser, app_url):
    with opened(browser, app_url, PHONE) as pg:
        assert pg.locator("#tab-picker").is_visible(), "no tab list on a phone"
        for name in reversed(TAB_NAMES):  # every tab, the last first
            choice = pg.locator("#tab-picker label", has_text=name)
            reachable(pg, choice, PHONE["width"])
            choice.click()
            pg.locator("#tabs [role=tab][aria-selected=true]", has_text=name).wait_for(state="attached", timeout=10_000)
        # a tab opened otherwise (the tab bar, hidden on a phone; a link in the page) shows in the list too
        pg.locator("#tabs button[data-tab-id=compare]").dispatch_event("click")
        pg.locator("#tab-picker label", has_text=COMPARE).locator("input:checked").wait_for(timeout=10_000)
    with opened(browser, app_url, DESK) as pg:
        assert not pg.locator("#tab-picker").is_visible(), "the tab list shows on a desk, beside the tab bar"
