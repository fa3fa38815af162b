"""The drawn architecture (page.architecture) says what the built models are."""

import xml.etree.ElementTree as ET

import pytest

from fcn_demo.core.i18n import LOCALES
from fcn_demo.models import VARIANTS, build_model
from fcn_demo.page import architecture

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def models():
    return {name: build_model(name) for name in VARIANTS}


def blocks(svg: str) -> list[dict]:
    return [g.attrib for g in ET.fromstring(svg).iter(f"{SVG}g") if "data-block" in g.attrib]


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("tall", [False, True])
def test_every_block_of_the_model_is_drawn_and_links_to_a_real_map(models, name, tall):
    model, variant = models[name], VARIANTS[name]
    drawn = blocks(architecture.svg(name, model, "en", tall=tall))
    names = [b["data-block"] for b in drawn]
    # the encoder as built: every conv block and pool up to the last tap the model reads
    assert [n for n in names if n[:4] in ("conv", "pool")] == list(model.backbone.taps.values())
    # every clickable block opens a map the model really returns, or a switch it really has
    assert {b["data-map"] for b in drawn if "data-map" in b} <= {m.key for m in variant.maps}
    assert {b["data-skip"] for b in drawn if "data-skip" in b} == set(variant.skips)
    assert names[0] == "input" and names[-1] == "output"


def test_fcns_upsample_by_transposed_convolutions_and_the_unet_concatenates(models):
    for name in ("fcn32s", "fcn16s", "fcn8s"):
        svg = architecture.svg(name, models[name], "en")
        skips = len(VARIANTS[name].skips)
        drawn = " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text"))
        assert drawn.count("transposed") == skips
        assert [b["data-block"] for b in blocks(svg)].count("+") == skips
        # the last upsampling is a fixed bilinear one by the remaining stride
        assert f"{VARIANTS[name].output_stride}x bilinear upsampling" in svg
    unet = blocks(architecture.svg("unet", models["unet"], "en"))
    assert [b["data-block"] for b in unet].count("concat") == 4
    assert "transposed" not in architecture.svg("unet", models["unet"], "en")


@pytest.mark.parametrize("lang", LOCALES)
def test_the_drawing_speaks_each_language_and_escapes_nothing_raw(models, lang):
    svg = architecture.svg("fcn16s", models["fcn16s"], lang)
    ET.fromstring(svg)  # well-formed: every text was escaped
    en = architecture.svg("fcn16s", models["fcn16s"], "en")
    assert (svg != en) == (lang != "en")


def test_each_drawing_has_its_own_arrowhead(models):
    # url(#id) takes the first element with that id in the page: a hidden drawing's would hide them all
    ids = [ET.fromstring(architecture.svg(n, models[n], "en", tall=t)).find(f"{SVG}defs/{SVG}marker").get("id")
           for n in VARIANTS for t in (False, True)]  # fmt: skip
    assert len(set(ids)) == len(ids) == 2 * len(VARIANTS)


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("lang", LOCALES)
def test_blocks_that_open_a_view_are_buttons_with_a_name(models, name, lang):
    root = ET.fromstring(architecture.svg(name, models[name], lang))
    assert root.get("role") == "group", "a picture (role img) hides its buttons from assistive technology"
    opens = {}
    for b in (g.attrib for g in root.iter(f"{SVG}g") if "data-block" in g.attrib):
        if "data-opens" not in b:
            assert "role" not in b and "tabindex" not in b, b
            continue
        opens[b["data-block"], b.get("data-skip")] = b["data-opens"]
        assert b["role"] == "button" and b["tabindex"] == "0" and b["data-block"] in b["aria-label"], b
        assert b["aria-label"] != b["data-block"], "the name says what the block opens"
        if b["data-opens"] == "maps":
            assert "data-map" in b, b
    skips = VARIANTS[name].skips
    assert {s for (n, s), v in opens.items() if n == "+" and v == "ablation"} == set(skips if name != "unet" else ())
    assert all(v == "whatif" for (n, _), v in opens.items() if n == "upscore2")
    assert ("upscore2", None) in opens or not skips or name == "unet"
    assert "maps" in opens.values()
