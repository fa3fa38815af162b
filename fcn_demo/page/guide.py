"""The guided lesson's handlers (its steps are data in fcn_demo.page.lesson, its answers are computed
in fcn_demo.page.answers): opening a step drives the real panels (its tab, its settings), a step
never shows a blank page (it loads the lesson's sample when no image is shown yet), and checking an
answer sets what the answer needs (a skip switched off, the what-if's sliders, a probed pixel) and
answers from the current image.

Every list an event takes or returns is named here once (:meth:`Guide.entered`, :meth:`Guide.checked`)
and app.py wires them by those names.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl

import gradio as gr
import numpy as np

from fcn_demo.core.data import CLASSES
from fcn_demo.core.i18n import class_name, text
from fcn_demo.core.inputs import InputError
from fcn_demo.models import VARIANTS
from fcn_demo.page import lesson, probe, whatif
from fcn_demo.page.answers import ANSWERS, Context
from fcn_demo.page.exercise import student_mask
from fcn_demo.page.html import escape
from fcn_demo.page.lesson import STEPS, Step
from fcn_demo.page.parts import image_name
from fcn_demo.page.state import Settings

PET = CLASSES.index("pet")


def settle(s: Settings, changes, skips) -> Settings:
    """``s`` with a step's settings applied (``on``: every skip on; ``off``: these (model, pool) off)."""
    plain = {k: v for k, v in changes.items() if k not in ("on", "off")}
    switches = list(s.switches)
    if changes.get("on"):
        switches = [True] * len(skips)
    for i, sk in enumerate(skips):
        if tuple(sk) in set(changes.get("off", ())):
            switches[i] = False
    return replace(s, **plain, switches=tuple(switches))


def pet_centre(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the pet pixel nearest the pet's centroid (the image's centre when there is no pet)."""
    ys, xs = np.nonzero(mask == PET)
    if not len(xs):
        return mask.shape[1] // 2, mask.shape[0] // 2
    nearest = int(np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2))
    return int(xs[nearest]), int(ys[nearest])


def choice_words(step: Step, value: str, lang: str) -> str:
    """The words of a choice, as the radio showed them."""
    if step.choices in (lesson.MODELS, lesson.FCNS):
        return VARIANTS[value].title
    if step.choices is CLASSES:
        return class_name(lang, value)
    return text(lang, f"lesson_{step.id}_choice_{value}")


class Guide:
    """The lesson's handlers on the server state ``st`` (fcn_demo.page.handlers.DemoState)."""

    def __init__(self, st) -> None:
        self.st = st

    # ------------------------------------------------------------ what the events read and write

    def entered(self) -> list[str]:
        """What opening a step changes: the lesson, its list, the tab (and the phone's tab list), the settings, the progress."""
        return ["lesson", "lesson-picker", "tabs", "tab-picker", *self.st.views.controls, "lesson-progress"]

    def checked(self, step: Step) -> tuple[list[str], list[str]]:
        """A step's check: (its inputs after the state and the choice, its outputs)."""
        extra = ["editor"] if step.paint else []
        outputs = [f"lesson-answer-{step.id}", *self.st.views.controls, "lesson-progress"]
        outputs += ["whatif-kernel", "whatif-stride"] if step.whatif else []
        outputs += ["probe-out"] if step.probe else []
        return [*self.st.views.controls, "lesson-progress", *extra], outputs

    def resumed(self) -> list[str]:
        return ["lesson", "lesson-picker", *(f"lesson-choice-{s.id}" for s in STEPS), "whatif-kernel", "whatif-stride"]

    # ------------------------------------------------------------ handlers

    def enter(self, i: int, *values) -> list:
        """Open step ``i`` (``values``: the settings' controls, then the stored progress)."""
        if isinstance(i, str):  # from the list of steps: its id
            i = lesson.index(i)
        step, s = STEPS[i], Settings.of(values[:-1])
        s = settle(s, step.enter, self.st.skips)
        stored = lesson.progress(values[-1])
        stored["step"] = step.id
        return [gr.Walkthrough(selected=i), step.id, gr.Tabs(selected=step.tab), step.tab, *s.values(), stored]

    def go(self, i: int | str, *values) -> list:
        """To step ``i`` (a number, or a step's id from the list): the first step opens here; any other
        is only selected, and its select event opens it (so it opens once)."""
        i = lesson.index(i) if isinstance(i, str) else i
        if not i:
            return self.enter(0, *values)
        return [gr.Walkthrough(selected=i), *(gr.skip() for _ in self.entered()[1:])]

    def ensure(self, request: gr.Request, a, *controls, lang: str = "en") -> list:
        """The lesson's sample, segmented, when the page shows no image yet; else nothing changes."""
        n = 1 + len(self.st.views.outputs)
        if a is not None:
            return [gr.skip()] * n
        index = [s.name for s in self.st.samples].index(lesson.SAMPLE)
        return self.st.pick(request, index, *controls, lang=lang)

    def check(self, step: Step, teacher: bool = False):
        """The handler of ``step``'s check (a learner: a choice first) or reveal (a teacher)."""

        def fn(a, choice, *values, lang: str = "en") -> list:
            n_controls = len(self.st.views.controls)
            controls, stored = values[:n_controls], lesson.progress(values[n_controls])
            painted = values[n_controls + 1] if step.paint else None
            if a is None:
                raise InputError.say("gen.lesson.no_image")
            if choice and choice not in [v for _, v in lesson.choices(step, self.st.names)]:
                raise InputError.say("gen.lesson.unknown_choice")  # not one the page offers: a forged request
            if not teacher and not choice:
                raise InputError.say("gen.lesson.choose_first", title="gen.lesson.title_choose")
            s = settle(Settings.of(controls), step.reveal, self.st.skips)
            stored["step"] = step.id
            if choice:
                stored["chosen"][step.id] = choice
            out: list = [None, *s.values(), stored]
            if step.whatif:
                out += list(step.whatif)
            c = Context(a, self.st, lang, painted=student_mask(painted, a.size) if step.paint else None)
            if step.probe:  # at the pet's centre in the mask the answer measures against
                c.probe = self.st.requests.probe_pixel(a.digest, a.rgb, *pet_centre(c.reference()[0]))
                out.append(probe.probe_panels(c.probe, a.rgb, image_name(a, lang), lang))
            got = ANSWERS[step.id](c)
            out[0] = verdict(step, choice, got.correct, lang) + f'<div class="lesson-said">{got.said}</div>'
            return out

        fn.__name__ = f"lesson_{'reveal' if teacher else 'check'}_{step.id}"
        return fn

    def resume(self, stored, query: str) -> list:
        """The page's first state of the lesson: the step a link names (``?step=``), else the stored
        one, the choices the visitor made, and the what-if sliders a link names."""
        stored = lesson.progress(stored)
        q = dict(parse_qsl(query.lstrip("?") if isinstance(query, str) else ""))
        step = q.get("step") if q.get("step") in lesson.BY_ID else stored["step"]
        sliders = []
        for key, allowed in (("kernel", whatif.KERNELS), ("stride", whatif.STRIDES)):
            v = q.get(key, "")
            sliders.append(int(v) if v.isdigit() and int(v) in allowed else gr.skip())
        chosen = [stored["chosen"].get(s.id, gr.skip()) for s in STEPS]
        # Selecting a step opens it (its tab, its sample): the page's first step is left as it is.
        i = lesson.index(step)
        return [gr.Walkthrough(selected=i) if i else gr.skip(), step if i else gr.skip(), *chosen, *sliders]


def verdict(step: Step, choice: str | None, correct: str | None, lang: str) -> str:
    """The line before an answer: right, not quite (and the right choice), or open on this image."""
    if correct is None:
        key, cls = "gen.lesson.open", "open"
    elif not choice:
        key, cls = "gen.lesson.revealed", "revealed"
    else:
        key, cls = ("gen.lesson.right", "right") if choice == correct else ("gen.lesson.wrong", "wrong")
    said = text(lang, key, chosen=escape(choice_words(step, choice, lang)) if choice else "",
                correct=escape(choice_words(step, correct, lang)) if correct else "")  # fmt: skip
    return f'<p class="lesson-verdict {cls}" role="status">{said}</p>'
