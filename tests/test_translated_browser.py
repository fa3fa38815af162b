"""In a browser set to zh-CN or ru, every tab of the page (the Training replay and the Metrics charts
included), after a sample is segmented, reads in that language: no English words beyond names
(tests/test_translated.py's list), in the text, the pictures' alt texts and the controls' labels."""

from __future__ import annotations

import pytest
from browser import *  # noqa: F403
from browser import SAMPLE, SAMPLES
from test_translated import SCRIPT, english

pytestmark = pytest.mark.slow
# Everything the tab shows a student: its text, its pictures' alt texts, its controls' names.
SHOWN = """(panel) => [panel.innerText,
    ...[...panel.querySelectorAll('img[alt], [aria-label], [title]')].map(e => e.alt || e.getAttribute('aria-label')
        || e.title)].join(' ')"""


# Chinese by default in the lesson's walk and test_i18n; every tab in it with -m heavy.
@pytest.mark.parametrize("locale", [pytest.param("zh-CN", marks=pytest.mark.heavy), "ru"])
def test_every_tab_reads_in_the_browsers_language(browser, app_url, locale):
    script = SCRIPT[locale]
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(app_url, wait_until="load")
        page.wait_for_selector("#samples img")
        page.wait_for_function("(re) => new RegExp(re).test(document.querySelector('#status .status')?.innerText)",
                               arg=script.pattern)  # fmt: skip
        page.locator("#samples img").nth(SAMPLES.index(SAMPLE)).click()
        page.wait_for_function(
            "(name) => document.querySelector('#status .status')?.dataset.image === name", arg=SAMPLE
        )
        seen = {}
        names = [n.strip() for n in page.locator("#tab-picker label").all_text_contents()]
        assert len(names) == 8, names
        for name in names:
            button = page.get_by_role("tab", name=name, exact=True)
            if button.count() and button.is_visible():
                button.click()
            else:  # a long name pushed it into the tab bar's overflow menu
                page.locator("#tabs .overflow-menu > button").click()
                page.locator(".overflow-dropdown button", has_text=name).click()
            page.get_by_role("tab", name=name, selected=True).wait_for()
            page.wait_for_timeout(800)
            if name == names[-1]:  # Metrics: its charts are drawn on the tab's first visit
                page.wait_for_selector("#iou-bars img")
            panel = page.locator("#tabs [role=tabpanel]:visible").first
            seen[name] = panel.evaluate(SHOWN)
        more = page.locator("#tabs .overflow-menu > button")
        seen["chrome"] = " ".join(filter(None, [more.get_attribute("aria-label") if more.count() else ""]))
        page.wait_for_timeout(1500)  # the status tracker says the last event is complete
        seen["page"] = page.evaluate("document.body.innerText")
        assert any("epoch" not in s and script.search(s) and "▶" in s for s in seen.values()), "no replay seen"
        for name, said in seen.items():
            assert script.search(said) or not said, f"{name}: nothing in {locale}"
            left = english(said.replace(SAMPLE, ""))
            assert not left, f"{locale} {name}: English words {sorted(left)} in {said[:400]!r}"
        assert "common." not in seen["page"] and "status." not in seen["page"]
    finally:
        context.close()


def test_gradios_own_refusals_read_in_the_browsers_language(browser, app_url, tmp_path):
    """Gradio writes some refusals itself, in English: a file over the upload limit (refused in the
    browser, before it is sent) and a full queue. The head's script puts them in the page's language."""
    context = browser.new_context(locale="ru", viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app_url, wait_until="load")
        page.wait_for_selector("#samples img")
        big = tmp_path / "огромное.png"  # over the 50 MB the page accepts
        with big.open("wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.truncate(51 << 20)
        page.locator("#image-in input[type=file]").set_input_files(big)
        toast = page.locator(".toast-body", has_text="огромное.png")
        toast.wait_for()
        said = toast.inner_text()
        assert said.startswith("Ошибка") and "Файл больше 50 МБ" in said and "exceed" not in said, said
        # The full queue's toast: Gradio's own sentence, as its client writes it, rewritten on arrival.
        page.evaluate("""() => { const d = document.createElement('div'); d.id = 'busy-probe';
            d.textContent = 'This application is currently busy. Please try again. ';
            document.body.append(d); }""")
        page.wait_for_function("() => document.querySelector('#busy-probe').textContent.startsWith('Сейчас')")
    finally:
        context.close()
