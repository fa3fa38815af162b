"""Share links read back (fcn_demo.page.share.parse): a link is typed by strangers, so every value is
checked, anything unknown or wrong falls back to the default (never an error), and nothing from the
query reaches the page unless it is one of the values the page itself offers."""

from __future__ import annotations

import math
import time
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcn_demo.core.data import CLASSES
from fcn_demo.page import share
from fcn_demo.page.share import DEFAULTS, MAPS_VIEWS, VIEW_MODES, parse

SAMPLES = ["Bengal_193", "Abyssinian_43", "american_bulldog_25"]
SKIPS = [("fcn16s", "pool4"), ("fcn8s", "pool4"), ("fcn8s", "pool3")]
TABS = ["compare", "probe", "maps", "ablation", "metrics"]
HTML = '<script>alert(1)</script><img src=x onerror="alert(2)">'
KEYS = ("sample", "tab", "opacity", "show", "class", "maps", "off")


def link(query: dict[str, str]) -> share.Link | None:
    return parse(query, SAMPLES, SKIPS, TABS)


def from_search(search: str) -> share.Link | None:
    """A link's ``location.search`` read as the page reads it (handlers: dict(parse_qsl(...)))."""
    return link(dict(parse_qsl(search.lstrip("?"))))


def assert_safe(got: share.Link) -> None:
    """Every field is one the page offers, whatever the query said."""
    assert got.sample is None or got.sample in SAMPLES, got.sample
    assert got.tab is None or got.tab in TABS, got.tab
    assert isinstance(got.opacity, float) and math.isfinite(got.opacity) and 0 <= got.opacity <= 1, got.opacity
    assert got.mode in VIEW_MODES and got.maps in MAPS_VIEWS, (got.mode, got.maps)
    assert got.cls in range(len(CLASSES)), got.cls
    assert len(got.switches) == len(SKIPS) and all(isinstance(s, bool) for s in got.switches), got.switches


def defaults(**changed) -> dict:
    """What a link that names nothing valid restores, with ``changed`` fields."""
    out = {"sample": None, "tab": None, "opacity": DEFAULTS["opacity"], "mode": DEFAULTS["mode"],
           "cls": DEFAULTS["cls"], "maps": DEFAULTS["maps"], "switches": [True] * len(SKIPS)}  # fmt: skip
    return out | changed


def fields_of(got: share.Link) -> dict:
    return {k: getattr(got, k) for k in defaults()}


# ---------------------------------------------------------------------------- valid links


def test_a_plain_visit_restores_nothing():
    assert link({}) is None
    # Keys a link may carry that are not the page's settings: still a plain visit.
    assert link({"epoch": "5", "utm_source": "newsletter", "__proto__": "x"}) is None


def test_a_full_link_restores_every_field():
    got = from_search(
        "?sample=Bengal_193&tab=ablation&opacity=0.7&show=mask+only&class=border&maps=raw+score&off=fcn8s-pool3&epoch=5"
    )
    assert fields_of(got) == defaults(sample="Bengal_193", tab="ablation", opacity=0.7, mode="mask only",
                                      cls=CLASSES.index("border"), maps="raw score",
                                      switches=[True, True, False])  # fmt: skip
    assert_safe(got)


@pytest.mark.parametrize(
    ("query", "changed"),
    [
        ({"sample": "Abyssinian_43"}, {"sample": "Abyssinian_43"}),
        ({"tab": "metrics"}, {"tab": "metrics"}),
        ({"opacity": "0"}, {"opacity": 0.0}),
        ({"opacity": "1"}, {"opacity": 1.0}),
        ({"opacity": " 0.25 "}, {"opacity": 0.25}),
        ({"show": "error map"}, {"mode": "error map"}),
        ({"class": "background"}, {"cls": 0}),
        ({"maps": "probability"}, {"maps": "probability"}),
        ({"off": "fcn16s-pool4,fcn8s-pool3"}, {"switches": [False, True, False]}),
        ({"off": "fcn8s-pool3,fcn8s-pool3,fcn8s-pool4"}, {"switches": [True, False, False]}),
        ({"off": ""}, {}),
    ],
    ids=lambda v: str(v)[:40],
)
def test_a_partial_link_sets_its_fields_and_leaves_the_rest_at_their_defaults(query, changed):
    assert fields_of(link(query)) == defaults(**changed)


# ---------------------------------------------------------------------------- every field's bad values

BAD = {
    "sample": [
        "",
        "bengal_193",
        "Bengal_193 ",
        " Bengal_193",
        "Bengal_1930",
        "Bengal",
        "../samples/Bengal_193",
        "Bengal_193.jpg",
        "/etc/passwd",
        "Bengal_193\x00",
    ],
    "tab": ["", "Compare", "compare ", "settings", "0", "tabs[0]"],
    "opacity": ["", "abc", "0,7", "0.7.1", "1/2", "0x1p-2", "seventy"],
    "show": ["", "Overlay", "mask_only", "mask  only", "error", "overlay\n"],
    "class": ["", "Pet", "pets", "1", "0", "-1", "cat"],
    "maps": ["", "raw_score", "Probability", "raw", "score"],
}


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, vs in BAD.items() for v in vs], ids=repr)
def test_a_bad_value_falls_back_to_the_default(key, value):
    """One bad field among good ones: that field gets its default, the good ones are kept."""
    good = {"sample": "Bengal_193", "tab": "maps", "opacity": "0.9", "show": "mask only", "class": "border",
            "maps": "raw score"}  # fmt: skip
    got = link(good | {key: value})
    expected = {"sample": "Bengal_193", "tab": "maps", "opacity": 0.9, "mode": "mask only",
                "cls": CLASSES.index("border"), "maps": "raw score"}  # fmt: skip
    fallback = {"sample": ("sample", None), "tab": ("tab", None), "opacity": ("opacity", DEFAULTS["opacity"]),
                "show": ("mode", DEFAULTS["mode"]), "class": ("cls", DEFAULTS["cls"]),
                "maps": ("maps", DEFAULTS["maps"])}[key]  # fmt: skip
    assert fields_of(got) == defaults(**(expected | dict([fallback])))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-0.5", 0.0), ("2", 1.0), ("1e999", 1.0), ("-1e999", 0.0), ("inf", 1.0), ("-inf", 0.0), ("1_0", 1.0)],
)
def test_an_opacity_out_of_range_is_clamped(value, expected):
    assert link({"opacity": value}).opacity == expected


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_an_opacity_that_is_not_a_number_gives_a_number(value):
    """float("nan") parses: it must not reach the slider (or the overlay's arithmetic) as NaN."""
    assert_safe(link({"opacity": value}))


@pytest.mark.parametrize(
    "off",
    ["fcn8s-pool5", "FCN8S-POOL3", "fcn8s pool3", "fcn8s_pool3", " fcn8s-pool3", ",,,", "fcn8s", "pool3", "*"],
)
def test_switches_only_turn_off_by_their_exact_name(off):
    assert link({"off": off}).switches == [True] * len(SKIPS)


# ---------------------------------------------------------------------------- hostile input


def test_html_in_every_field_reaches_nothing():
    got = link(dict.fromkeys(KEYS, HTML))
    assert fields_of(got) == defaults()
    assert not any(isinstance(v, str) and "<" in v for v in vars(got).values())


def test_huge_values_are_refused_quickly():
    huge = "x" * 2_000_000
    query = dict.fromkeys(KEYS, huge) | {"opacity": "9" * 100_000, "off": "fcn8s-pool3," * 200_000}
    t0 = time.perf_counter()
    got = link(query)
    assert time.perf_counter() - t0 < 1.0
    assert fields_of(got) == defaults(opacity=1.0, switches=[True, True, False])


def test_unknown_keys_change_nothing():
    query = {"sample": "Bengal_193", "tab": "maps"}
    noisy = query | {"evil": HTML, "constructor": "x", "sample[]": "Abyssinian_43", "Tab": "metrics", "": "x"}
    assert fields_of(link(noisy)) == fields_of(link(query))


def test_a_repeated_key_counts_once_and_is_checked():
    """The page keeps one value per key, the last; it is checked like any other."""
    assert from_search("?tab=maps&tab=metrics").tab == "metrics"
    assert from_search(f"?tab=maps&tab={HTML}").tab is None
    assert from_search("?sample=Bengal_193&sample=nope").sample is None
    assert from_search("?off=fcn8s-pool3&off=fcn16s-pool4").switches == [False, True, True]


text = st.text(st.characters(codec="utf-8"), max_size=60) | st.sampled_from([HTML, "", "nan", "1e999", "-0"])


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from([*KEYS, "epoch", "x"]) | st.text(max_size=8), text, max_size=10))
def test_any_query_gives_nothing_or_a_view_the_page_offers(query):
    got = link(query)
    if not set(KEYS) & set(query):
        assert got is None
    else:
        assert_safe(got)
