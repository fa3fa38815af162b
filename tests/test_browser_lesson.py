"""The guided lesson as a learner and a teacher meet it, in Debian's Chromium: every step opened in
turn, its question answered, its answer revealed and read, at a desk (1440x900, English), a projector
(1280x720, Russian) and a phone (390x844, Chinese): each size and each language walks the whole
lesson, with axe-core on every step. By default one walk, the hardest (a phone in Chinese);
``--walks each`` walks each size and each language once (three walks), ``--walks all`` all nine.
Then: the answers change with the sample, progress survives a reload, a link opens its step, and a
teacher reveals without predicting. With ``--screenshots DIR`` every step of every walk is kept
(``python bench/screenshots.py`` puts them in docs/screenshots/lesson/)."""

from __future__ import annotations

import io
import re

import conftest
import pytest
from browser import DESK, PHONE, PROJECTOR, SHOTS, opened, paint, pick, serious
from PIL import Image

from fcn_demo.page.lesson import STEPS

pytestmark = pytest.mark.slow

SIZES = {"1440x900": DESK, "1280x720": PROJECTOR, "390x844": PHONE}
WALKS = [("1440x900", "en"), ("1280x720", "ru"), ("390x844", "zh-CN")]
EVERY_WALK = [(size, lang) for size in SIZES for lang in ("en", "zh-CN", "ru")]
SCRIPT = {"en": r"[A-Za-z]", "ru": r"[А-Яа-яЁё]", "zh-CN": r"[\u4e00-\u9fff]"}  # the words' own script


def pytest_generate_tests(metafunc):
    if "walk" in metafunc.fixturenames:
        walks = {"one": WALKS[-1:], "each": WALKS, "all": EVERY_WALK}[metafunc.config.getoption("--walks")]
        metafunc.parametrize("walk", walks, ids=[f"{s}-{lang}" for s, lang in walks])


# A step's answer as it reads: its verdict and its words (not Gradio's timer over a pending answer).
SAID = """id => [...document.querySelectorAll(`#lesson-answer-${id} .lesson-verdict, #lesson-answer-${id} .lesson-said`)]
    .map(e => e.innerText).join("\\n\\n")"""


def answer(pg, step_id: str, previous: str | None = None) -> str:
    """Check step ``step_id``'s answer (its first choice) and wait for an answer other than ``previous``."""
    pg.locator(f"#lesson-choice-{step_id} label").first.click()
    pg.locator(f"#lesson-check-{step_id}").click()
    pg.wait_for_function(f"([id, before]) => {{ const said = ({SAID})(id); return said && said !== before; }}",
                         arg=[step_id, previous or ""])  # fmt: skip
    return pg.evaluate(SAID, step_id)


def opened_step(pg, i: int) -> None:
    """Wait until step ``i`` shows with its tab open."""
    s = STEPS[i]
    pg.locator(f"#lesson-choice-{s.id}").wait_for(state="visible")
    pg.wait_for_function(
        "tab => document.querySelector('#tabs [role=tab][aria-selected=true]')?.dataset.tabId === tab", arg=s.tab
    )


def keep(png: bytes, name: str) -> None:
    """Save a step's screenshot in SHOTS/lesson/ in 256 colours (a tenth of the bytes, text as sharp)."""
    (SHOTS / "lesson").mkdir(exist_ok=True)
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(SHOTS / "lesson" / name, optimize=True)


def test_the_lesson_walks_from_start_to_end(browser, app_url, walk):
    size, lang = walk
    found = []
    ctx = browser.new_context(viewport=SIZES[size], locale=lang, device_scale_factor=1)
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)
    try:
        pg.goto(app_url)
        pg.wait_for_selector("#samples img")
        for i, s in enumerate(STEPS):
            if i:
                pg.locator(f"#lesson-{STEPS[i - 1].id} .lesson-next").click()
            opened_step(pg, i)
            if s.paint:
                paint(pg)
            said = answer(pg, s.id)
            verdict = set(pg.locator(f"#lesson-answer-{s.id} .lesson-verdict").get_attribute("class").split())
            assert verdict & ({"right", "wrong"} if s.paint else {"right", "wrong", "open"}), (s.id, verdict)
            assert re.search(SCRIPT[lang], said), f"{s.id} in {lang}: {said!r}"
            assert "{" not in said and "gen." not in said, said
            if lang != "en":  # no English sentence in a translated answer (names, numbers and titles aside)
                own = re.sub(r"«[^»]*»|《[^》]*》|“[^”]*”|\"[^\"]*\"", "", said)
                assert not re.search(r"\b(the|is|of|and)\b", own), f"{s.id} in {lang}: {said!r}"
            found += [f"{s.id}: {v}" for v in serious(pg)]
            if conftest.KEEP_SHOTS:
                pg.locator(f"#lesson-answer-{s.id}").scroll_into_view_if_needed()
                keep(pg.screenshot(), f"{size}-{lang}-{i + 1:02d}-{s.id}.png")
        assert pg.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    finally:
        ctx.close()
    assert not found, f"axe-core: {found}"


def test_the_answers_change_with_the_sample_and_progress_survives_a_reload(browser, app_url):
    with opened(browser, app_url, DESK) as pg:
        pick(pg, "Bengal_193")
        pg.locator("#lesson-picker input").click()
        pg.get_by_role("option", name=re.compile("U-Net")).click()
        opened_step(pg, [s.id for s in STEPS].index("unet"))
        first = answer(pg, "unet")
        pick(pg, "american_bulldog_205")
        second = answer(pg, "unet", previous=first)
        assert "Bengal_193" in first and "american_bulldog_205" in second and first != second
        pg.reload()
        pg.wait_for_selector("#samples img")
        opened_step(pg, [s.id for s in STEPS].index("unet"))  # the stored step, opened with its tab
        assert pg.locator("#lesson-choice-unet input:checked").count() == 1  # the choice made


def test_a_link_opens_its_step_and_a_teacher_reveals_without_predicting(browser, app_url):
    with opened(browser, app_url + "?step=ablation&kernel=3&stride=2", PROJECTOR) as pg:
        i = [s.id for s in STEPS].index("ablation")
        opened_step(pg, i)
        assert pg.locator("#lesson-check-ablation").is_visible()
        assert not pg.locator("#lesson-reveal-ablation").is_visible()  # a learner predicts first
        pg.wait_for_function("() => document.querySelector('#status .status')?.dataset.image")  # the lesson's sample
        pg.locator("#present input").check()
        reveal = pg.locator("#lesson-reveal-ablation")
        reveal.wait_for(state="visible")
        assert not pg.locator("#lesson-check-ablation").is_visible()
        reveal.click()
        pg.wait_for_selector("#lesson-answer-ablation .lesson-verdict.revealed")
        switch = pg.locator("#skip-fcn8s-pool4 input")
        pg.wait_for_function("() => !document.querySelector('#skip-fcn8s-pool4 input').checked")
        assert not switch.is_checked()  # the reveal switched FCN-8s's skips off on the ablation tab
        nxt = pg.locator("#lesson-ablation .lesson-next")
        assert nxt.bounding_box()["height"] >= 56  # a next-step control to hit from across the room
