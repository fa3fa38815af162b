"""The guided lesson (fcn_demo.page.lesson, .answers, .guide): every step is complete in every
language, its answer is computed from the image shown (a different sample, a different answer; an
uploaded photo without a true mask, an honest answer), and what a visitor's browser or a link sends
(stored progress, a step, a choice, slider values) is checked, never trusted."""

from __future__ import annotations

import re

import gradio as gr
import numpy as np
import pytest

from fcn_demo.core import i18n
from fcn_demo.core.data import CLASSES
from fcn_demo.core.inputs import InputError
from fcn_demo.page import lesson
from fcn_demo.page.answers import ANSWERS, Context
from fcn_demo.page.guide import Guide, pet_centre, settle
from fcn_demo.page.handlers import TABS
from fcn_demo.page.lesson import STEPS
from fcn_demo.page.state import Settings

CHANGES_WITH_THE_IMAGE = ["segment", "stride", "field", "skips", "ablation", "unet", "failure"]


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


@pytest.fixture(scope="module")
def st(loaded_models):
    import app

    return app.DemoState(loaded_models, "cpu")


@pytest.fixture(scope="module")
def analyses(st):
    """Two samples of different shapes and breeds, and one as an upload (no true mask)."""
    by_name = {s.name: str(s.image) for s in st.samples}
    a, b = (st.requests.analyze(by_name[n]) for n in ("Bengal_193", "american_bulldog_205"))
    from PIL import Image

    photo = np.asarray(Image.open(by_name["Bengal_193"]).convert("RGB"))[:, ::-1].copy()  # mirrored: not a sample
    upload = st.requests.analyze(photo)
    assert upload.gt is None and upload.sample is None
    return a, b, upload


# ---------------------------------------------------------------------------- the steps as data


def test_eight_to_ten_steps_each_on_a_tab_with_its_words_in_every_language():
    assert 8 <= len(STEPS) <= 10
    assert len({s.id for s in STEPS}) == len(STEPS)
    table = i18n.translations()
    for s in STEPS:
        assert s.tab in TABS
        keys = [f"lesson_{s.id}_{k}" for k in ("title", "text", "question")]
        if isinstance(s.choices, tuple) and s.choices is not CLASSES:
            keys += [f"lesson_{s.id}_choice_{c}" for c in s.choices]
        for loc in i18n.LOCALES:
            missing = [k for k in keys if not table[loc].get(k)]
            assert not missing, f"{loc} lacks {missing}"
    for loc in i18n.LOCALES:  # the page's lesson words go to gr.I18n
        assert all(f"lesson_{s.id}_title" in i18n.page_translations()[loc] for s in STEPS)


def test_the_lesson_follows_the_course_from_segmentation_to_the_learners_try():
    ids = [s.id for s in STEPS]
    for earlier, later in [("segment", "stride"), ("stride", "field"), ("field", "skips"), ("skips", "ablation"),
                           ("upsampling", "unet"), ("unet", "failure"), ("failure", "training")]:  # fmt: skip
        assert ids.index(earlier) < ids.index(later)
    assert ids[-1] == "yourturn" and STEPS[-1].paint


# ---------------------------------------------------------------------------- answers from the numbers


@pytest.mark.parametrize("lang", i18n.LOCALES)
def test_every_answer_names_one_of_its_choices_and_changes_with_the_sample(st, analyses, lang):
    a, b, _ = analyses
    for s in STEPS:
        offered = [v for _, v in lesson.choices(s, st.names)]
        got_a, got_b = (ANSWERS[s.id](Context(x, st, lang)) for x in (a, b))
        for got in (got_a, got_b):
            assert got.correct is None or got.correct in offered, (s.id, got.correct, offered)
            assert words(got.said) and "{" not in got.said, (s.id, got.said)
        if s.id in CHANGES_WITH_THE_IMAGE:
            assert words(got_a.said) != words(got_b.said), f"{s.id}: the same answer for two samples"
            assert (
                "Bengal_193" in got_a.said and "american_bulldog_205" not in got_a.said or s.id in ("stride", "field")
            )


def test_answers_are_the_numbers_of_the_image(st, analyses):
    a, _, _ = analyses
    got = ANSWERS["segment"](Context(a, st))
    shares = np.bincount(a.gt.ravel(), minlength=len(CLASSES)) / a.gt.size
    assert got.correct == CLASSES[int(np.argmax(shares))]
    unet = ANSWERS["unet"](Context(a, st))
    assert unet.correct == max(a.models, key=lambda n: a.models[n].metrics["miou"])
    ablation = ANSWERS["ablation"](Context(a, st))
    full = a.models["fcn8s"].metrics["miou"]
    without = a.models["fcn8s"].ablation_metrics[("pool3", "pool4")]["miou"]
    assert f"{full:.3f}" in ablation.said and f"{without:.3f}" in ablation.said
    assert ablation.correct == ("drops" if without < full - 0.01 else "rises" if without > full + 0.01 else "same")
    stride = ANSWERS["stride"](Context(a, st))
    cells = a.models["fcn32s"].maps["score_pool5"].shape[-1]
    assert f"<b>{cells}</b>" in stride.said and stride.correct == "s32"


def test_an_upload_without_a_true_mask_gets_honest_answers(st, analyses):
    _, _, upload = analyses
    for s in STEPS:
        got = ANSWERS[s.id](Context(upload, st))
        assert words(got.said)
        if s.id in ("unet", "ablation", "yourturn"):  # nothing to score against: no right answer
            assert got.correct is None, s.id
    assert "no true mask" in ANSWERS["segment"](Context(upload, st)).said


def test_the_field_step_reads_the_probe_when_there_is_one(st, analyses):
    a, _, _ = analyses
    without = ANSWERS["field"](Context(a, st))
    x, y = pet_centre(a.gt)
    assert a.gt[y, x] == CLASSES.index("pet")
    found = st.run_probe(a.rgb, x, y)
    with_probe = ANSWERS["field"](Context(a, st, probe=found))
    first = next(iter(found.models.values()))
    assert f"{2 * first.radius_px:.0f} px" in with_probe.said and "90%" in with_probe.said
    assert "90%" not in without.said
    assert with_probe.correct == "whole"  # 308 px against a 256 px working image


# ---------------------------------------------------------------------------- the handlers


def test_opening_a_step_sets_its_tab_and_settings(st):
    g = Guide(st)
    off = Settings(switches=tuple(False for _ in st.skips))
    for i, s in enumerate(STEPS):
        out = g.enter(i, *off.values(), {"step": "nonsense"})
        assert len(out) == len(g.entered())
        walk, picked, tabs, picker, *rest = out
        assert walk.selected == i and picked == s.id and tabs.selected == s.tab and picker == s.tab
        settings, stored = Settings.of(rest[:-1]), rest[-1]
        assert stored["step"] == s.id
        for k, v in s.enter.items():
            if k == "on":
                assert all(settings.switches)
            else:
                assert getattr(settings, k) == v
    assert g.enter("ablation", *off.values(), None)[1] == "ablation"  # from the list of steps


def test_checking_asks_first_refuses_forged_choices_and_reveals_for_a_teacher(st, analyses):
    a, _, _ = analyses
    g = Guide(st)
    step = lesson.BY_ID["ablation"]
    values = [*Settings(switches=tuple(True for _ in st.skips)).values(), None]
    with pytest.raises(InputError):
        g.check(step)(a, None, *values)  # a learner predicts before the answer shows
    with pytest.raises(InputError):
        g.check(step)(a, "<script>alert(1)</script>", *values)  # not one of the step's choices
    with pytest.raises(InputError):
        g.check(step)(None, "drops", *values)
    out = g.check(step, teacher=True)(a, None, *values)
    said, *rest = out
    assert "lesson-verdict revealed" in said
    settings = Settings.of(rest[: len(st.views.controls)])
    off = dict(zip(st.skips, settings.switches))
    assert not off[("fcn8s", "pool4")] and not off[("fcn8s", "pool3")] and off[("fcn16s", "pool4")]
    mine = g.check(step)(a, "rises", *values)
    assert "lesson-verdict wrong" in mine[0] and mine[-1]["chosen"] == {"ablation": "rises"}


def test_the_probe_step_probes_the_pets_centre_and_the_upsampling_step_sets_the_sliders(st, analyses):
    a, _, _ = analyses
    g = Guide(st)
    values = [*Settings().values()[:4], *(True for _ in st.skips), None]
    field = g.check(lesson.BY_ID["field"])(a, "whole", *values)
    assert len(field) == len(g.checked(lesson.BY_ID["field"])[1])
    assert "lesson-verdict right" in field[0] and "probe" in field[-1]
    up = g.check(lesson.BY_ID["upsampling"])(a, "even", *values)
    assert up[-2:] == list(lesson.BY_ID["upsampling"].whatif) and "lesson-verdict wrong" in up[0]


def test_stored_progress_and_links_are_checked(st):
    g = Guide(st)
    assert lesson.progress("junk") == {"step": "segment", "chosen": {}}
    forged = {"step": "../../etc", "chosen": {"field": "whole", "nope": "x", "skips": 3}}
    assert lesson.progress(forged) == {"step": "segment", "chosen": {"field": "whole"}}
    out = g.resume({"step": "unet", "chosen": {"unet": "unet"}}, "?step=field&kernel=3&stride=9")
    assert out[0].selected == lesson.index("field") and out[1] == "field"
    names = g.resumed()
    assert out[names.index("lesson-choice-unet")] == "unet"
    assert out[names.index("whatif-kernel")] == 3 and isinstance(out[names.index("whatif-stride")], type(gr.skip()))
    first = g.resume(None, "")  # a first visit: the first step is left as the page built it
    assert isinstance(first[0], type(gr.skip()))


def test_settle_switches_skips_on_and_off(st):
    s = Settings(switches=tuple(False for _ in st.skips))
    on = settle(s, {"on": True}, st.skips)
    assert all(on.switches)
    off = settle(on, {"off": (("fcn16s", "pool4"),), "mode": "error map"}, st.skips)
    assert off.mode == "error map" and sum(not x for x in off.switches) == 1
