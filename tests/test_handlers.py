"""The page's state as data (fcn_demo.page.state, fcn_demo.page.views): every positional list an
event takes or returns (an input's outputs, a redraw's, the translation pass's, a share link's
restore) is derived from the one ordered description of the views and the settings record; adding a
view to the description adds it to each of them, in its place."""

from __future__ import annotations

from dataclasses import fields, replace
from types import SimpleNamespace

import gradio as gr
import pytest

from fcn_demo.models import VARIANTS
from fcn_demo.page.layout import html
from fcn_demo.page.state import Drawing, Settings, View, Views
from fcn_demo.page.views import describe

SKIPS = [(n, p) for n in VARIANTS for p in VARIANTS[n].skips]


def page(views=None) -> Views:
    """The page's own description (for every registered model), or ``views`` in its place."""
    st = SimpleNamespace(names=list(VARIANTS), skips=SKIPS)
    return describe(st) if views is None else Views(views, SKIPS)


def toy(view_id: str, **kw) -> View:
    """A view that says its id, the language, the opacity and whether it was drawn for an image."""
    return View(view_id, html(), lambda d: f"{view_id}:{d.lang}:{d.s.opacity}:{d.a is not None}", **kw)


def test_the_derived_lists_name_the_views_in_the_descriptions_order():
    v = page()
    ids = [x.id for x in v]
    drawn = [x.id for x in v if x.per_image]
    assert v.outputs == drawn and len(drawn) > 10
    assert v.outputs[0] == "state" and "download" in v.outputs and "upsampling" not in v.outputs
    assert [f"panel-{n}" for n in VARIANTS] == [i for i in v.outputs if i.startswith("panel-") and i[6:] in VARIANTS]
    assert v.translated == [x.id for x in v if x.words] and "trained-on" in v.translated
    assert "state" not in v.translated and "editor" not in v.translated
    assert all(ids.index(a) < ids.index(b) for a, b in zip(v.translated, v.translated[1:]))
    assert v.controls == ["opacity", "mode", "cls", "prob", *(f"skip-{n}-{p}" for n, p in SKIPS)]
    assert v.restored == ["image-in", *v.outputs, *v.controls, "tabs"]


def test_the_redraw_events_read_their_settings_and_draw_their_views():
    redraws = page().redraws()
    assert list(redraws) == ["panels", "maps", "ablate"]
    assert redraws["panels"] == (["opacity", "mode"], [f"panel-{n}" for n in VARIANTS])
    assert redraws["maps"] == (["cls", "maps"], ["maps-out"])
    nets = [n for n in VARIANTS if VARIANTS[n].skips]
    assert redraws["ablate"] == (["switches"], [*(f"ablate-{n}" for n in nets), "ablate-ref", "ablate-notice"])
    assert Settings.control_ids(SKIPS, redraws["ablate"][0]) == [f"skip-{n}-{p}" for n, p in SKIPS]


def test_every_answer_has_the_length_and_order_of_its_list():
    fixed = View("c", html(), lambda d: f"c in {d.lang}", per_image=False)
    v = page([toy("a"), toy("b", redraw="panels", reads=("opacity",)), fixed, toy("d", words=False)])
    st, s = object(), Settings(opacity=0.3, switches=(True,) * len(SKIPS))
    assert v.outputs == ["a", "b", "d"] and v.translated == ["a", "b", "c"]
    assert v.answer(st, "an image", s, "ru") == ["a:ru:0.3:True", "b:ru:0.3:True", "d:ru:0.3:True"]
    assert v.redraw(st, "panels")(None, 0.8, lang="en") == ["b:en:0.8:False"]
    assert v.translation(st, None, "en") == [gr.skip()] * 3
    # Before an image: every view with words, drawn with no image and the default settings.
    assert v.translation(st, None, "ru") == ["a:ru:0.55:False", "b:ru:0.55:False", "c in ru"]
    # An image on the page: the views it filled were drawn in the language already; the rest are redrawn.
    assert v.translation(st, object(), "zh-CN") == [gr.skip(), gr.skip(), "c in zh-CN"]
    answer = v.answer(st, None, s)
    restored = v.restore("photo.jpg", answer, s, "maps")
    assert len(restored) == len(v.restored) == 1 + 3 + 4 + len(SKIPS) + 1
    assert restored[:4] == ["photo.jpg", *answer] and restored[4:-1] == s.values()
    assert restored[-1].selected == "maps"
    assert v.restore(None, None, None, None) == [gr.skip()] * len(v.restored)
    with pytest.raises(ValueError, match="shorter"):  # an answer of another length is refused, not shifted
        v.restore(None, answer[:1], None, None)


def test_adding_a_view_is_one_entry_and_it_shows_up_everywhere():
    before = page()
    views = list(before)
    at = [x.id for x in views].index("maps-out")
    extra = toy("extra", slot="compare", reads=("opacity",), redraw="panels")
    after = page([*views[:at], extra, *views[at:]])
    assert "extra" not in before.outputs + before.translated + before.restored
    assert after.outputs == [*before.outputs[: before.outputs.index("maps-out")], "extra",
                             *before.outputs[before.outputs.index("maps-out"):]]  # fmt: skip
    assert after.translated == [*before.translated[: before.translated.index("maps-out")], "extra",
                                *before.translated[before.translated.index("maps-out"):]]  # fmt: skip
    assert after.restored == ["image-in", *after.outputs, *after.controls, "tabs"]
    assert after.redraws()["panels"][1] == [*before.redraws()["panels"][1], "extra"]
    assert after.redraws()["maps"] == before.redraws()["maps"]
    with pytest.raises(ValueError, match="share an id"):
        page([*views, replace(extra, id="status")])


def test_settings_record_defaults_and_round_trips():
    defaults = Settings()
    assert (defaults.opacity, defaults.mode, defaults.cls, defaults.maps) == (0.55, "overlay", 1, "probability")
    s = Settings(0.7, "mask only", 2, "raw score", (True, False, True))
    assert Settings.of(s.values()) == s
    assert Settings.of([False, True], ["switches"]) == Settings(switches=(False, True))
    assert Settings.of([0.2, "error map"], ["opacity", "mode"]) == Settings(opacity=0.2, mode="error map")
    assert [f.name for f in fields(Settings)] == ["opacity", "mode", "cls", "maps", "switches"]
    assert s.drops([("fcn16s", "pool4"), ("fcn8s", "pool4"), ("fcn8s", "pool3")]) == {"fcn16s": (), "fcn8s": ("pool4",)}


def test_a_drawing_carries_the_request():
    d = Drawing("st", None, Settings(cls=2), "ru")
    assert (d.st, d.a, d.s.cls, d.lang) == ("st", None, 2, "ru")


def test_the_built_page_wires_the_derived_lists(loaded_models):
    """The page as app.py builds it: every view placed, and each event's outputs in the derived order."""
    import app

    st = app.DemoState(loaded_models, "cpu")
    demo = app.build_demo(st)
    events = {fn.api_name: fn for fn in demo.fns.values()}

    def ids(components) -> list:
        return [getattr(c, "elem_id", None) for c in components]

    stored = {v.id for v in st.views if isinstance(v.make(v.id, None), gr.State)}  # a State has no elem_id
    want = [None if i in stored else i for i in st.views.outputs]
    assert ids(events["segment_photo"].outputs) == want
    assert ids(events["pick"].outputs) == ["image-in", *want]
    assert ids(events["restore"].outputs) == ["image-in", *want, *st.views.controls, "tabs"]
    assert ids(events["segment_photo"].inputs) == ["image-in", *st.views.controls, None]  # the language State last
    for name, (reads, views) in st.views.redraws().items():
        assert ids(events[name].outputs) == views
        assert ids(events[name].inputs) == [None, *Settings.control_ids(st.skips, reads), None]
    assert ids(events["localize"].outputs) == [None, *st.views.translated]
    # The download makes its files only when clicked: an input's answer writes nothing.
    answer = st.segment(str(st.samples[0].image), *Settings(switches=(True,) * len(st.skips)).values())
    assert not any(st.files.root.iterdir())
    assert st.download(answer[0]).endswith(f"{st.samples[0].name}_masks.zip")
    assert any(st.files.root.iterdir())
