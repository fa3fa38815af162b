"""The guided lesson: ten steps, from "what is a segmentation" to the learner's own try, as data.

Each :class:`Step` names the tab it opens and the settings it sets on the real panels, asks a
question with a few choices before it shows anything, and on "check" (a student) or "reveal" (a
teacher, in presentation mode) sets what the answer needs (a skip switched off, the what-if's
sliders, a probed pixel) and answers from the current image's numbers (fcn_demo.page.answers), so
the answer stays true for an uploaded photo. The steps' words are the locale keys
``lesson_<id>_title|text|question`` and ``lesson_<id>_choice_<choice>``; the answers' are
``gen.lesson.<id>.*``.

:func:`layout` builds the steps as a ``gr.Walkthrough``; the handlers are in fcn_demo.page.guide.
Progress (the step and the choices made) lives in the visitor's browser (``gr.BrowserState``)
and a share link names the step (``?step=field``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import gradio as gr

from fcn_demo.core.data import CLASSES
from fcn_demo.models import VARIANTS
from fcn_demo.page.compare import skip_family
from fcn_demo.page.layout import T

SAMPLE = "Bengal_193"  # the photo a step loads when the page shows none yet (the README's)
PROGRESS_KEY = "fcn-demo-lesson"  # the browser's storage key of the visitor's progress
MODELS, FCNS = "models", "fcns"  # choices read from the loaded models (every one; the skip family)


@dataclass(frozen=True)
class Step:
    """One step of the lesson.

    id: its name in links (``?step=``), locale keys and elem_ids.
    tab: the tab it opens (one of fcn_demo.page.handlers.TABS).
    choices: the answers offered: choice ids (words: ``lesson_<id>_choice_<c>``), the classes'
        names, or :data:`MODELS` / :data:`FCNS` (the loaded models' titles).
    enter: the settings it sets when it opens (Settings fields; ``on``: every skip switched on).
    reveal: the settings its answer sets (``off``: the (model, pool) skips it switches off).
    whatif: the (kernel, stride) its answer sets on the transposed-convolution what-if.
    probe: whether its answer probes a pixel (the pet's centre) on the Ask-a-pixel tab.
    paint: whether its answer grades the learner's painted mask.
    """

    id: str
    tab: str
    choices: tuple[str, ...] | str
    enter: Mapping = field(default_factory=dict)
    reveal: Mapping = field(default_factory=dict)
    whatif: tuple[int, int] | None = None
    probe: bool = False
    paint: bool = False


STEPS: tuple[Step, ...] = (
    Step("segment", "compare", CLASSES, enter={"mode": "overlay", "on": True}),
    Step("stride", "maps", ("s5", "s10", "s32"), enter={"cls": CLASSES.index("pet"), "maps": "raw score"}),
    Step("field", "probe", ("cell", "hundred", "whole"), probe=True),
    Step("skips", "maps", FCNS, enter={"cls": CLASSES.index("border"), "maps": "probability"}),
    Step(
        "ablation",
        "ablation",
        ("drops", "same", "rises"),
        enter={"on": True},
        reveal={"off": (("fcn8s", "pool4"), ("fcn8s", "pool3"))},
    ),  # fmt: skip
    Step("upsampling", "lessons", ("even", "checker", "edges"), whatif=(3, 2)),
    Step("unet", "compare", MODELS, enter={"mode": "overlay"}),
    Step(
        "failure", "compare", ("pet", "border", "background"), enter={"mode": "overlay"}, reveal={"mode": "error map"}
    ),  # fmt: skip
    Step("training", "replay", ("every", "dips", "fell")),
    Step("yourturn", "exercise", ("yes", "no"), paint=True),
)
BY_ID = {s.id: s for s in STEPS}


def choices(step: Step, names: list[str]) -> list[tuple[str, str]]:
    """(label, value) of a step's choices; a label is a page translation key or a model's title."""
    if step.choices in (MODELS, FCNS):
        chosen = names if step.choices == MODELS else skip_family(names)
        return [(VARIANTS[n].title, n) for n in chosen]
    if step.choices is CLASSES:
        return [(T(f"class_{c}"), c) for c in CLASSES]
    return [(T(f"lesson_{step.id}_choice_{c}"), c) for c in step.choices]


def index(step_id: str | None) -> int:
    """The position of step ``step_id`` (0 for anything else: a link is typed by strangers)."""
    return next((i for i, s in enumerate(STEPS) if s.id == step_id), 0)


def progress(value) -> dict:
    """The visitor's stored progress, checked: ``{"step": id, "chosen": {step id: choice}}`` (the
    browser's storage can hold anything; what is not a known step or choice is dropped)."""
    value = value if isinstance(value, dict) else {}
    step = value.get("step") if value.get("step") in BY_ID else STEPS[0].id
    chosen = value.get("chosen") if isinstance(value.get("chosen"), dict) else {}
    return {"step": step, "chosen": {k: v for k, v in chosen.items() if k in BY_ID and isinstance(v, str)}}


def layout(ui) -> None:
    """The lesson's box: the steps (a Walkthrough), each with its words, question, choices, the
    learner's check and the teacher's reveal, the answer, and back/next; above it a list of the
    steps, so any step is one tap away on a phone too (the Walkthrough's own bar only opens the
    steps already visited)."""
    names = ui.st.names
    with gr.Group(elem_classes=["lesson-box"]):
        gr.Markdown(T("lesson_head"), elem_id="lesson-head")
        ui.add("lesson-picker", gr.Dropdown([(T(f"lesson_{s.id}_title"), s.id) for s in STEPS], value=STEPS[0].id,
                                            label=T("lesson_picker"), elem_id="lesson-picker"))  # fmt: skip
        ui.add("lesson-progress", gr.BrowserState(progress(None), storage_key=PROGRESS_KEY))
        with ui.add("lesson", gr.Walkthrough(selected=0, elem_id="lesson")):
            for i, s in enumerate(STEPS):
                with ui.add(f"lesson-{s.id}", gr.Step(T(f"lesson_{s.id}_title"), id=i, elem_id=f"lesson-{s.id}")):
                    gr.Markdown(T(f"lesson_{s.id}_text"), elem_classes=["lesson-text"])
                    ui.add(f"lesson-choice-{s.id}", gr.Radio(choices(s, names), label=T(f"lesson_{s.id}_question"),
                                                             elem_id=f"lesson-choice-{s.id}"))  # fmt: skip
                    with gr.Row(elem_classes=["lesson-actions"]):
                        ui.add(f"lesson-check-{s.id}", gr.Button(T("lesson_check"), variant="primary",
                                                                 elem_id=f"lesson-check-{s.id}",
                                                                 elem_classes=["lesson-check"]))  # fmt: skip
                        ui.add(f"lesson-reveal-{s.id}", gr.Button(T("lesson_reveal"), variant="primary",
                                                                  elem_id=f"lesson-reveal-{s.id}",
                                                                  elem_classes=["lesson-reveal"]))  # fmt: skip
                    ui.add(f"lesson-answer-{s.id}", gr.HTML("", elem_id=f"lesson-answer-{s.id}",
                                                            elem_classes=["lesson-answer"]))  # fmt: skip
                    with gr.Row(elem_classes=["lesson-nav"]):
                        if i:
                            ui.add(f"lesson-back-{s.id}", gr.Button(T("lesson_back"), scale=0, min_width=90,
                                                                    elem_classes=["lesson-back"]))  # fmt: skip
                        if i + 1 < len(STEPS):
                            ui.add(f"lesson-next-{s.id}", gr.Button(T("lesson_next"), scale=1,
                                                                    elem_classes=["lesson-next"]))  # fmt: skip
