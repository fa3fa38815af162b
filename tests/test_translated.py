"""Every string the page shows is said in zh-CN and ru: the views (what they show before an image and
for an analysed sample), the Training replay's phrases, the gr.I18n config (Gradio's own words the
page shows included), the error toasts and their titles. An English word outside a short list of
names (models, layers, metrics, the dataset, its breeds and samples) fails the test."""

from __future__ import annotations

import ast
import html
import json
import re

import gradio as gr
import pytest
from test_lessons import make_analysis

from fcn_demo.core import i18n
from fcn_demo.core.data import REPO_ROOT
from fcn_demo.core.inputs import InputError, load_input
from fcn_demo.page import replay
from fcn_demo.page.handlers import friendly
from fcn_demo.page.state import Settings

OTHERS = ("zh-CN", "ru")
SCRIPT = {"zh-CN": re.compile(r"[\u4e00-\u9fff]"), "ru": re.compile(r"[\u0400-\u04ff]")}
# Names that stay as they are in every language: models, layers, metrics, formats and tools, the
# dataset and its authors, and the terms the Russian page writes as loanwords (skip-слои).
NAMES = {
    "FCN", "Net", "IoU", "mIoU", "FW", "pool", "conv", "px", "softmax", "trimap", "skip", "bottleneck", "VGG",
    "Oxford", "IIIT", "Pet", "Parkhi", "Vedaldi", "Zisserman", "Jawahar", "CVPR", "Long", "Shelhamer", "Darrell",
    "CC", "BY", "SA", "API", "MCP", "Gradio", "JPEG", "PNG", "WebP", "GIF", "BMP", "TIFF", "HEIC", "RAW", "zip",
    "iPhone", "Space", "GPU", "CPU", "ZeroGPU", "fp", "NaN", "uint", "float", "gradio_client", "handle_file",
    "segment", "data", "URL", "Hub", "ImageNet", "torchvision", "PyTorch", "Hugging", "Face", "Mau", "val",
    "Ronneberger", "arxiv", "Enter", "Distill", "Odena", "Dumoulin", "Olah",
    # the architecture's blocks, labelled by the models' own module names (score_fr, upscore2, stage8)
    "input", "output", "score_fr", "score_pool", "upscore", "stage", "center", "concat", "upsample", "fc",
}  # fmt: skip


def breeds() -> set[str]:
    """The breed and sample names (Oxford-IIIT Pet's, as the dataset writes them)."""
    from fcn_demo.core.samples import list_samples

    words = {w for s in list_samples() for w in re.findall(r"[A-Za-z]+", s.name)}
    words |= {"Abyssinian", "Bengal", "Birman", "Bombay", "British", "Shorthair", "Egyptian", "Maine", "Coon",
              "Persian", "Ragdoll", "Russian", "Blue", "Siamese", "Sphynx", "american", "pit", "bull", "terrier",
              "basset", "hound", "beagle", "boxer", "chihuahua", "english", "cocker", "spaniel", "setter", "havanese",
              "japanese", "chin", "keeshond", "leonberger", "miniature", "pinscher", "newfoundland", "pomeranian",
              "pug", "saint", "bernard", "samoyed", "scottish", "shiba", "inu", "staffordshire", "wheaten",
              "yorkshire", "great", "pyrenees", "german", "shorthaired", "pointer", "bulldog"}  # fmt: skip
    return words


def visible(page: str) -> str:
    """A view's text as read aloud: its words and its pictures' alt texts, without tags or data."""
    alts = " ".join(re.findall(r'(?:alt|aria-label|title)="([^"]*)"', page))
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<img [^>]*>", " ", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page) + " " + alts)).strip()


def english(said: str) -> set[str]:
    """The English words of ``said``: Latin-script words of two letters or more that are no name,
    after commands, file names and placeholders are taken out."""
    said = re.sub(r"python -m \S+|`[^`]*`|\b\w+\([^)]*\)|\S+\.(?:py|json|jpg|png|otf)\b|\{\w+(?::[^}]*)?\}", " ", said)
    said = re.sub(r"https?://\S+|\b\d+x\d+\b|\b\w+_\d+\b", " ", said)  # links, sizes, samples (Bengal_193)
    allowed = NAMES | breeds()
    return {w for w in re.findall(r"[A-Za-z][A-Za-z_]+", said) if w not in allowed and not w.isupper()}


def text_of(value) -> str:
    """What a view's value shows: HTML, or the replay's phrases (JSON), or nothing (a picture, data)."""
    if isinstance(value, str):
        try:
            return " ".join(json.loads(value).values())
        except (ValueError, AttributeError):
            return visible(value)
    return ""


@pytest.fixture(scope="module")
def st(loaded_models):
    import app

    state = app.DemoState(loaded_models, "cpu")
    app.build_demo(state)
    return state


@pytest.mark.parametrize("lang", OTHERS)
def test_every_view_speaks_the_language_before_and_after_an_image(st, lang):
    shown = {f"blank {k}": v for k, v in st.views.blanks(st, lang).items()}
    answer = st.views.answer(st, make_analysis(), Settings(), lang)
    shown |= {f"answer {k}": v for k, v in zip(st.views.outputs, answer)}
    shown["upsampling"] = st.upsampling(lang)
    shown["replay"] = json.dumps(replay.words()[lang])  # the replay's script speaks these
    for what, value in shown.items():
        said = text_of(value)
        assert not english(said), f"{what} in {lang} keeps English words {sorted(english(said))}: {said[:300]}"
    assert SCRIPT[lang].search(text_of(shown["replay"]))


@pytest.mark.parametrize("lang", OTHERS)
def test_the_page_config_says_every_word_in_the_language(lang):
    """gr.I18n's keys, and Gradio's own words the page shows that Gradio leaves untranslated in this
    language (the status tracker's "common.complete", the queue's place)."""
    page = i18n.page_translations()[lang]
    for key in ("common.complete", "status.queue_position"):
        assert key in page and SCRIPT[lang].search(page[key]), key
    for key, said in page.items():
        assert not english(said), f"{lang} {key} keeps English words {sorted(english(said))}: {said[:200]}"


@pytest.mark.parametrize("lang", OTHERS)
def test_every_generated_phrase_differs_from_english_or_is_names_only(lang):
    """A phrase copied from English untranslated (and not just names and numbers) is a miss."""
    t = i18n.translations()
    for key, said in t[lang].items():
        if said == t["en"][key]:
            assert not english(said), f"{lang} {key} is the English phrase: {said!r}"


def test_every_input_error_is_said_from_its_id():
    """Each refusal of an input is an InputError.say (a phrase id and values), so the page says it in
    the visitor's language; a bare InputError("...") would reach a Chinese page in English."""
    for path in (REPO_ROOT / "fcn_demo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "InputError":
                pytest.fail(f"{path.name}:{node.lineno}: InputError({ast.unparse(node.args[0])[:60]}) has no phrase id")


@pytest.mark.parametrize("lang", OTHERS)
def test_error_toasts_and_their_titles_are_in_the_language(lang):
    def refuse(*, lang="en"):
        load_input(b"")

    def crash(*, lang="en"):
        raise RuntimeError("a bug")

    for fn in (refuse, crash):
        with pytest.raises(gr.Error) as e:
            friendly(fn)(lang=lang)
        for said in (e.value.message, e.value.title):
            assert SCRIPT[lang].search(said) and not english(said), said
    with pytest.raises(InputError) as e:
        load_input(None)
    assert str(e.value).startswith("No image given") and SCRIPT[lang].search(e.value.text(lang))


def test_the_footer_pointer_names_gradios_link_as_the_page_shows_it():
    """The attribution points at the footer's API link by the words Gradio shows in that language."""
    page = i18n.page_translations()
    assert "Use via API" in page["en"]["attribution"]
    assert "通过 API 使用" in page["zh-CN"]["attribution"] and "Использовать через API" in page["ru"]["attribution"]
