"""The page in English, Simplified Chinese and Russian: fcn_demo.core.i18n's phrase files, the HTML the
server draws per image in each language (on a hand-built analysis, no model runs), and, in a real
browser set to zh-CN or ru, the page after a sample click."""

from __future__ import annotations

import ast
import html
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from test_lessons import make_analysis

from fcn_demo.core import i18n
from fcn_demo.core.data import REPO_ROOT
from fcn_demo.models import VARIANTS
from fcn_demo.page import ablation, compare, exercise, lessons, maps, metrics, parts, photo, probe, state
from fcn_demo.request.probe import ModelProbe, Probe, sentence

OTHERS = [loc for loc in i18n.LOCALES if loc != "en"]
# What stays as it is in every language: model, metric and layer names, the sample's name, the
# technical words the English page quotes too (softmax, trimap), and the terms the Russian page
# writes as loanwords, like its static texts do ("skip-слои", "bottleneck-слой").
KEPT = {"FCN", "Net", "IoU", "mIoU", "pool", "conv", "Bengal", "softmax", "trimap", "skip", "bottleneck"}
CHINESE, CYRILLIC = re.compile(r"[\u4e00-\u9fff]"), re.compile(r"[\u0400-\u04ff]")
SCRIPT = {"zh-CN": CHINESE, "ru": CYRILLIC}


# ---------------------------------------------------------------------------- the phrase files


def test_every_locale_has_every_key_with_the_same_placeholders():
    t = i18n.translations()
    en = t["en"]
    for loc in OTHERS:
        assert set(t[loc]) == set(en), f"{loc}: missing {set(en) - set(t[loc])}, extra {set(t[loc]) - set(en)}"
        for key, template in en.items():
            assert i18n.placeholders(t[loc][key]) == i18n.placeholders(template), f"{loc} {key}: {t[loc][key]!r}"


def test_generated_phrases_are_text_and_plural_words_have_their_forms():
    forms = {"en": 2, "zh-CN": 1, "ru": 3}
    for loc, table in i18n.translations().items():
        for key, template in table.items():
            if not key.startswith(i18n.GENERATED):
                continue
            assert "<" not in template and "&" not in template, f"{loc} {key} holds HTML: {template!r}"
            if key.startswith("gen.n."):
                assert len(template.split("|")) == forms[loc], f"{loc} {key}: {template!r}"
    assert "gen.status.empty" not in i18n.page_translations()["zh-CN"]  # gr.I18n gets the page's keys only
    assert "tab_compare" in i18n.page_translations()["zh-CN"]


def test_every_key_the_code_asks_for_exists():
    en = i18n.translations()["en"]
    asked = set()
    for path in [REPO_ROOT / "app.py", *(REPO_ROOT / "fcn_demo").rglob("*.py")]:
        asked |= set(re.findall(r"""["'](gen\.[a-z0-9_.]*[a-z0-9_])["']""", path.read_text()))
    assert asked and asked <= set(en), sorted(asked - set(en))
    page = i18n.page_translations()["en"]
    chrome = set(re.findall(r'\bT\("([a-z_]+)"\)', (REPO_ROOT / "app.py").read_text()))
    assert chrome and chrome <= set(page), sorted(chrome - set(page))
    # ... and the controls' choices and switches, shown in words, sent as the values the handlers read.
    assert {f"mode_{m.replace(' ', '_')}" for m in state.VIEW_MODES} | {"maps_probability", "maps_raw"} <= set(page)
    assert all(page[f"class_{c}"] == c for c in ("background", "pet", "border"))
    assert page[i18n.switch_key("fcn16s", "pool4")] == "FCN-16s: pool4 skip"
    # Keys the code builds: the score labels, the layers' map captions (English = the registry's), ...
    assert {f"gen.score.{k}" for _, k in parts.SCORE_LABELS} <= set(en)
    for v in VARIANTS.values():
        for spec in v.maps:
            assert en[f"gen.map.{spec.key}"] == spec.caption
    for key in ("raises", "lowers", "equal"):
        assert f"gen.notice.compare_{key}" in en
    for key in ("class", "change", "cross", "flat_out"):
        assert f"gen.upsampling.{key}" in en


def test_browser_languages_map_to_the_three_locales():
    assert [i18n.locale(t) for t in ("zh-CN", "zh-TW", "zh", "ZH-hk")] == ["zh-CN"] * 4
    assert [i18n.locale(t) for t in ("ru", "ru-RU", "ru-UA")] == ["ru"] * 3
    assert [i18n.locale(t) for t in ("en-US", "en", "de-DE", "", None)] == ["en"] * 5


def test_words_agree_with_their_numbers():
    ru = " ".join(i18n.plural("ru", "gen.n.models", n) for n in (1, 2, 4, 5, 11, 12, 21, 22, 25, 111))
    assert ru == "модель модели модели моделей моделей моделей модель модели моделей моделей"
    assert [i18n.plural("en", "gen.n.models", n) for n in (1, 4)] == ["model", "models"]
    assert i18n.number("ru", 12345) == "12\u00a0345" and i18n.number("zh-CN", 12345) == "12,345"
    assert i18n.join_and("en", "abc") == "a, b and c" and i18n.join_and("zh-CN", "abc") == "a、b 和 c"
    assert i18n.text("zh-CN", "gen.notice.confidence_none", image="你的照片") == "没有模型记录它对你的照片的置信度。"
    assert i18n.text("xx", "gen.your_photo") == "your photo"  # an unknown language reads English


def test_every_input_note_is_a_message_said_from_its_id():
    """Each note fcn_demo.core.inputs writes is a Message (an id and values): English where the API
    returns it, and said in every language from the id, not parsed back from the English."""
    tree = ast.parse((REPO_ROOT / "fcn_demo" / "core" / "inputs.py").read_text())
    calls = [node.args[0] for node in ast.walk(tree)
             if isinstance(node, ast.Call) and ast.unparse(node.func) == "notes.append"]  # fmt: skip
    assert len(calls) >= 8
    for arg in calls:
        assert isinstance(arg, ast.Call) and ast.unparse(arg.func) == "Message", ast.unparse(arg)
        key = arg.args[0].value
        values = {kw.arg: 640 for kw in arg.keywords}
        note = i18n.Message(key, **values)
        assert note == i18n.text("en", key, **values) and i18n.say("en", note) == note
        for loc in OTHERS:
            said = i18n.say(loc, note)
            assert said != note and SCRIPT[loc].search(said), f"{loc}: no translation for {key}"
    large = i18n.Message("gen.note.large", w=5000, h=4000, dw=1600, dh=1280)
    assert large == "Large image (5000x4000): processed at 1600x1280; downloaded masks are scaled back to 5000x4000."
    said = "Большое изображение (5000x4000): обработано в размере 1600x1280; скачанные маски масштабируются обратно до 5000x4000."
    assert i18n.say("ru", large) == said
    # A ZeroGPU worker sends its notes back pickled: they stay messages; the API's JSON gets the English.
    back = pickle.loads(pickle.dumps(large))
    assert isinstance(back, i18n.Message) and i18n.say("ru", back) == said
    assert json.loads(json.dumps([large])) == [str(large)]
    assert i18n.say("ru", "plain words") == "plain words"  # any other text stays as it is


# ---------------------------------------------------------------------------- the server's HTML


def visible(page: str) -> str:
    """A page's text as read aloud: its words and its pictures' alt texts, without tags."""
    alts = " ".join(re.findall(r'alt="([^"]*)"', page))
    page = re.sub(r"<img [^>]*>", " ", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page) + " " + alts)).strip()


def english_words(text: str) -> set[str]:
    """The Latin-script words of ``text`` apart from names (:data:`KEPT`) and quoted commands."""
    text = re.sub(r"python -m \S+", "", text)
    return {w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in KEPT}


def fake_probe(a) -> Probe:
    h, w = a.size
    models = {}
    for i, (name, m) in enumerate(a.models.items()):
        probs = np.array([0.1, 0.7, 0.2] if i % 2 else [0.2, 0.2, 0.6], np.float32)
        models[name] = ModelProbe(name, m.title, probs, int(probs.argmax()), 100 + 50 * i, (0, 0, 20, 30),
                                  (0, 0, h - 1, w - 1), np.ones(a.work_size, np.float32),
                                  np.full((h, w), 128, np.uint8), 5.0 + i, 0.1, 3.0, "fp32")  # fmt: skip
    return Probe(5, 6, (h, w), a.work_size, (10, 12), models, sentence(5, 6, a.work_size, models), 12.0)


def pages(a, lang: str) -> dict[str, str]:
    """Every view the server draws for the analysis ``a`` (and the empty states), in ``lang``."""
    names = list(a.models)
    out = {
        "status": photo.status(a, lang),
        "panel": compare.panel(a, "fcn8s", lang=lang),
        "error map": compare.panel(a, "fcn8s", mode="error map", lang=lang),
        "ablation": ablation.ablation(a, "fcn8s", ("pool3",), lang),
        "reference": ablation.reference(a, "fcn32s", lang),
        "truth": compare.ground_truth_panel(a, lang),
        "disagreement": compare.disagreement_panel(a, lang),
        "confidence": lessons.confidence_panels(a, names, lang),
        "maps": maps.skip_maps(a, names, 2, False, lang),
        "probe": probe.probe_panels(fake_probe(a), a.rgb, parts.image_name(a, lang), lang),
        "confusion": metrics.confusion_tables(None, a, lang),
        **{f"notice {v}": lessons.notice(v, a, lang) for v in lessons.NOTICE_VIEWS},
        "empty status": photo.status(None, lang),
        "empty panel": compare.panel(None, "unet", lang=lang),
        "empty probe": probe.probe_panels(None, None, lang=lang),
        "empty grade": exercise.grade(None, None, lang),
    }
    if a.gt is not None:
        out["grade"] = exercise.grade(a, a.gt, lang)
        out["no paint"] = exercise.grade(a, None, lang)
    return out


@pytest.mark.parametrize("lang", OTHERS)
@pytest.mark.parametrize("sample", [True, False], ids=["sample", "upload"])
def test_views_speak_the_visitors_language(lang, sample):
    a = make_analysis(sample=sample)
    english = pages(a, "en")
    for what, page in pages(a, lang).items():
        said = visible(page)
        assert SCRIPT[lang].search(said), f"{what} in {lang} has no {lang} text: {said[:200]}"
        assert not english_words(said), f"{what} in {lang} keeps English words {english_words(said)}: {said[:300]}"
        assert page.count("<img") == english[what].count("<img")  # the same pictures: only the words differ
    status = photo.status(a, lang)
    assert f'data-image="{a.label}"' in status  # what the page keys on stays the same in every language


def test_english_is_the_default_and_unchanged():
    a = make_analysis()
    assert photo.status(a) == photo.status(a, "en") and "Segmented sample <b>Bengal_1</b>" in photo.status(a)
    assert lessons.notice("compare", a) == lessons.notice("compare", a, "en")
    assert "background" in compare.panel(a, "fcn8s") and "wrong pixel" in compare.panel(a, "fcn8s", mode="error map")
    p = fake_probe(a)
    assert probe.probe_panels(p, a.rgb, a.label) == probe.probe_panels(p, a.rgb, a.label, "en")
    assert p.sentence == sentence(5, 6, a.work_size, p.models, "en") and p.sentence.startswith("At (5, 6)")


def test_class_names_translate_in_text_and_legends():
    a = make_analysis()
    for lang, names in (("zh-CN", ("背景", "宠物", "边界")), ("ru", ("фон", "питомец", "граница"))):
        legend = compare.panel(a, "fcn8s", lang=lang).split('class="legend"')[1]
        assert all(n in legend for n in names)
        assert all(n in metrics.confusion_tables(None, a, lang) for n in names)
        assert names[2] in visible(maps.skip_maps(a, ["fcn8s"], 2, False, lang))


def test_trained_on_and_tables_in_each_language():
    from fakes import TRAINED_ON

    history = type("H", (), {"trained_on": TRAINED_ON})()
    for lang in OTHERS:
        said = visible(photo.trained_on({"fcn8s": history}, lang))
        assert SCRIPT[lang].search(said) and "Abyssinian" in said and str(TRAINED_ON.labelled_images) in said
        assert SCRIPT[lang].search(visible(metrics.metrics_tables(None, lang)))
    assert TRAINED_ON.sentence() == TRAINED_ON.sentence("en")
    scores = {"images": 7, "classes": ["background", "pet", "border"],
               "models": {"fcn8s": {"title": "FCN-8s", "pixel_acc": 0.9, "mean_acc": 0.8, "miou": 0.7, "fwiou": 0.8,
                                    "iou": [0.9, 0.8, 0.4], "confusion": [[9, 1, 0], [1, 8, 1], [0, 2, 3]]}}}  # fmt: skip
    zh = visible(metrics.metrics_tables(scores, "zh-CN") + metrics.confusion_tables(scores, None, "zh-CN"))
    assert "边界 IoU" in zh and "测试集" in zh and not english_words(zh.replace("FW", ""))


def test_the_app_redraws_its_page_in_the_visitors_language(loaded_models):
    """What the page shows before an image (and its fixed tables) are drawn in English when the page is
    built; the language box's change redraws them, skipping the views an image already filled."""
    import gradio as gr

    import app

    st = app.DemoState(loaded_models, "cpu")
    app.build_demo(st)
    translated = st.views.translated
    assert st.localize(None, "en") == ["en"] + [gr.skip()] * len(translated)
    lang, *zh = app.localized(st.localize)(None, "zh-TW")
    assert lang == "zh-CN" and len(zh) == len(translated)
    for view_id, page in zip(translated, zh):
        assert CHINESE.search(visible(page)), (view_id, visible(page)[:200])
    lang, *later = st.localize(object(), "ru")
    drawn = [i for i, view_id in enumerate(translated) if view_id in st.views.outputs]
    static = [i for i in range(len(translated)) if i not in drawn]
    assert drawn and static
    assert all(later[i] == gr.skip() for i in drawn) and all(CYRILLIC.search(later[i]) for i in static)


def test_handlers_take_the_language_last_and_default_to_english(loaded_models):
    """The events pass the language box last; bench/speed.py and the API call without it."""
    import app

    st = app.DemoState(loaded_models, "cpu")
    app.build_demo(st)
    image = str(st.samples[0].image)
    controls = [0.55, "overlay", 1, "probability", *[True] * len(st.skips)]
    english = st.segment(image, *controls)
    assert "Segmented sample" in english[1]
    ru = app.localized(st.segment)(image, *controls, "ru-RU")
    assert "Сегментировано" in ru[1] and len(ru) == len(english)
    assert "питомец" in app.localized(st.panels)(ru[0], 0.55, "overlay", "ru")[0]
    assert CHINESE.search(visible(app.localized(st.ablate)(ru[0], *[False] * len(st.skips), "zh-TW")[0]))


# ---------------------------------------------------------------------------- in a real browser


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locale", "tab", "script", "shot"),
    [("zh-CN", "比较模型", CHINESE, "lang_zh.png"), ("ru-RU", "Сравнить модели", CYRILLIC, "lang_ru.png")],
    ids=["zh-CN", "ru"],
)
def test_the_page_follows_the_browsers_language(app_url, locale, tab, script, shot):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from browser import ARGS, CHROMIUM, SAMPLE, SAMPLES, SHOTS

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900}, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(app_url, wait_until="load")
            page.wait_for_selector("#samples img")
            assert page.evaluate("navigator.language") == locale
            page.get_by_role("tab", name=tab).wait_for()  # gr.I18n: the tab names
            # Before any image, the server redraws its empty states in the visitor's language.
            page.wait_for_function("(re) => new RegExp(re).test(document.querySelector('#status').innerText)",
                                   arg=script.pattern)  # fmt: skip
            page.locator("#samples img").nth(SAMPLES.index(SAMPLE)).click()
            page.wait_for_function(
                "(name) => document.querySelector('#status .status')?.dataset.image === name"
                " && document.querySelector('#panel-fcn8s img.panel-img')?.alt.includes(name)",
                arg=SAMPLE,
            )
            status = page.locator("#status").inner_text()
            panel = page.locator("#panel-fcn8s").inner_text()
            notice = page.locator("#compare-notice").inner_text()
            for said in (status, panel, notice):
                assert script.search(said), said
                assert not english_words(said.replace(SAMPLE, "")), said
            assert SAMPLE in status and "FCN-8s" in panel and "mIoU" in panel
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / shot))
            context.close()
        finally:
            browser.close()
