"""The guided lesson's answers, computed from the current image's numbers (never written in advance),
so that each stays true for any sample or uploaded photo: a sample is scored against its true mask;
a photo without one is measured against what can be measured (U-Net's mask, the models'
agreement), and the answer says so. One function per step of fcn_demo.page.lesson, each returning
an :class:`Answer`: the right choice (None when the image cannot decide it) and the words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fcn_demo.core.data import CLASSES
from fcn_demo.core.i18n import class_name, join_and, listing, plural, sentences, text
from fcn_demo.core.metrics import image_metrics
from fcn_demo.models import VARIANTS
from fcn_demo.page import whatif
from fcn_demo.page.compare import skip_family
from fcn_demo.page.html import escape
from fcn_demo.page.parts import image_name, pct
from fcn_demo.request.analysis import Analysis
from fcn_demo.request.probe import Probe

PET, BORDER = CLASSES.index("pet"), CLASSES.index("border")
SAME = 0.01  # an mIoU change within this is "the same" (the ablation notice's threshold too)


@dataclass
class Context:
    """What an answer may read: the analysis, the server state (models, histories, metrics), the
    language, and what the step's reveal produced (a probe; the learner's painted mask)."""

    a: Analysis
    st: object
    lang: str = "en"
    probe: Probe | None = None
    painted: np.ndarray | None = None

    def say(self, key: str, **fmt) -> str:
        return text(self.lang, f"gen.lesson.{key}", **fmt)

    def px(self, n) -> str:
        """A length in pixels, bold, in the answer's language ("<b>32 px</b>", "<b>32 пикс.</b>")."""
        return b(text(self.lang, "gen.unit.px", n=n))

    @property
    def image(self) -> str:
        return escape(image_name(self.a, self.lang))

    def best(self) -> str:
        """The model an unlabelled photo is measured against: the last loaded (U-Net, the strongest)."""
        return list(self.a.models)[-1]

    def reference(self) -> tuple[np.ndarray, str | None]:
        """The mask an answer measures against: the true one, else the strongest model's (and its title)."""
        if self.a.gt is not None:
            return self.a.gt, None
        return self.a.models[self.best()].mask, self.a.models[self.best()].title


@dataclass
class Answer:
    correct: str | None  # the right choice's value; None: this image cannot decide it
    said: str  # HTML: numbers in <b>, every name escaped by the templates' callers


def b(value) -> str:
    """A number as the answers show it: bold."""
    return f"<b>{value}</b>"


def _argmax(scores: dict[str, float]) -> str:
    return max(scores, key=scores.get)


def segment(c: Context) -> Answer:
    mask, model = c.reference()
    shares = np.bincount(mask.ravel(), minlength=len(CLASSES)) / mask.size
    parts = listing(c.lang, (f"{class_name(c.lang, i)} <b>{pct(s)}</b>" for i, s in enumerate(shares)))
    winner = int(np.argmax(shares))
    key = "segment.truth" if model is None else "segment.model"
    said = c.say(key, image=c.image, model=model or "", shares=parts, winner=class_name(c.lang, winner))
    return Answer(CLASSES[winner], said)


def stride(c: Context) -> Answer:
    fcn = next(n for n in skip_family(c.a.models) if "score_pool5" in c.a.models[n].maps)
    m = c.a.models[fcn]
    cells_h, cells_w = m.maps["score_pool5"].shape[-2:]
    h, w = c.a.work_size
    per = w / cells_w
    said = c.say("stride.said", model=m.title, w=b(w), h=b(h), cw=b(cells_w), ch=b(cells_h), per=b(f"{per:.0f}"))
    return Answer("s32" if round(per) == 32 else None, said)


def field(c: Context) -> Answer:
    h, w = c.a.work_size
    models = c.st.analyzer.models
    if c.probe is not None:
        sizes = {n: p.field_px for n, p in c.probe.models.items()}
        spans = {n: 2 * p.radius_px for n, p in c.probe.models.items()}
    else:  # no probe (it failed or was not run): the layer arithmetic alone
        sizes = {n: models[n].receptive_field().size() for n in c.a.models if n in models}
        spans = {}
    first = next(iter(sizes))
    title = c.a.models[first].title
    correct = "whole" if sizes[first] >= min(h, w) else "hundred" if sizes[first] > 64 else "cell"
    fields = listing(c.lang, (f"{c.a.models[n].title} {c.px(s)}" for n, s in sizes.items()))
    said = c.say("field.said", model=title, field=b(sizes[first]), w=b(w), h=b(h), fields=fields)
    if spans:
        widths = listing(c.lang, (f"{c.a.models[n].title} {c.px(f'{s:.0f}')}" for n, s in spans.items()))
        said = sentences(c.lang, said, c.say("field.effective", widths=widths))
    return Answer(correct, said)


def _scores(c: Context, names: list[str], key: str) -> tuple[dict[str, float], str | None]:
    """Each model's ``key`` ("miou" or "border_iou") against the true mask, else against the strongest
    model's (whose own score is then left out: it would be 1)."""
    ref, model = c.reference()
    names = [n for n in names if model is None or n != c.best()]
    return {n: image_metrics(c.a.models[n].mask, ref)[key] for n in names}, model


def skips(c: Context) -> Answer:
    scores, model = _scores(c, skip_family(c.a.models), "border_iou")
    listed = listing(c.lang, (f"{c.a.models[n].title} <b>{s:.3f}</b>" for n, s in scores.items()))
    best = _argmax(scores)
    key = "skips.truth" if model is None else "skips.model"
    said = c.say(key, image=c.image, model=model or "", scores=listed, best=c.a.models[best].title)
    ladder = list(scores.values())
    if ladder != sorted(ladder):  # finer skips did not make a finer outline on this image
        said = sentences(c.lang, said, c.say("skips.not_ladder"))
    return Answer(best, said)


def ablation(c: Context) -> Answer:
    from fcn_demo.page.lesson import BY_ID

    off = BY_ID["ablation"].reveal["off"]
    name = off[0][0]
    if name not in c.a.models:
        return Answer(None, c.say("missing", model=VARIANTS[name].title))
    m, drops = c.a.models[name], tuple(sorted(p for _, p in off))
    mask = m.ablated(drops)
    changed = pct(float((mask != m.mask).mean()))
    pools = join_and(c.lang, drops)
    if c.a.gt is None:
        return Answer(None, c.say("ablation.model", model=m.title, pools=pools, changed=changed))
    full, without = m.metrics["miou"], (m.ablation_metrics.get(drops) or image_metrics(mask, c.a.gt))["miou"]
    delta = without - full
    correct = "drops" if delta < -SAME else "rises" if delta > SAME else "same"
    said = c.say("ablation.truth", model=m.title, pools=pools, full=b(f"{full:.3f}"), without=b(f"{without:.3f}"),
                 delta=f"{delta:+.3f}",
                 changed=changed, image=c.image)  # fmt: skip
    return Answer(correct, said)


def upsampling(c: Context) -> Answer:
    from fcn_demo.page.lesson import BY_ID

    k, s = BY_ID["upsampling"].whatif
    counts = whatif.overlap_counts(k, s)
    correct = "checker" if whatif.unevenness(counts) > 0 else "even"
    said = whatif.sentence(k, s, c.lang, counts)
    for lk, ls in c.st.learned_upsampling:
        said = sentences(c.lang, said, c.say("upsampling.learned"), whatif.sentence(lk, ls, c.lang))
    return Answer(correct, sentences(c.lang, said, c.say("upsampling.said")))


def unet(c: Context) -> Answer:
    if c.a.gt is None:
        d = c.a.disagreement
        return Answer(None, c.say("unet.model", share=pct(d.share), image=c.image))
    scores = {n: m.metrics["miou"] for n, m in c.a.models.items() if m.metrics}
    listed = listing(c.lang, (f"{c.a.models[n].title} <b>{s:.3f}</b>" for n, s in scores.items()))
    best = _argmax(scores)
    return Answer(best, c.say("unet.truth", image=c.image, scores=listed, best=c.a.models[best].title))


def failure(c: Context) -> Answer:
    """Which class's pixels are most often wrong: per class, the share of its pixels that at least one
    model gets wrong (no truth: where the models disagree, by the strongest model's classes)."""
    ref, model = c.reference()
    if model is None:
        wrong = np.zeros(ref.shape, bool)
        for m in c.a.models.values():
            wrong |= m.mask != ref
    else:
        wrong = c.a.disagreement.distinct > 1
    if not wrong.any():
        return Answer(None, c.say("failure.none", image=c.image))
    area = np.bincount(ref.ravel(), minlength=len(CLASSES))
    missed = np.bincount(ref[wrong].ravel(), minlength=len(CLASSES))
    rates = {i: missed[i] / area[i] for i in range(len(CLASSES)) if area[i]}
    winner = max(rates, key=rates.get)
    parts = listing(c.lang, (f"{class_name(c.lang, i)} {b(pct(r))}" for i, r in rates.items()))
    key = "failure.truth" if model is None else "failure.model"
    said = c.say(key, image=c.image, model=model or "", rates=parts, winner=class_name(c.lang, winner),
                 wrong=pct(float(wrong.mean())), area=pct(area[BORDER] / ref.size))  # fmt: skip
    return Answer(CLASSES[winner], said)


def training(c: Context) -> Answer:
    """The last model's replay (U-Net's): did its validation mIoU rise at every epoch?"""
    if not c.st.histories:
        return Answer(None, c.say("training.none"))
    name, h = list(c.st.histories.items())[-1]
    curve = [e.val_miou for e in h.epochs]
    falls = sum(b < a for a, b in zip(curve, curve[1:]))
    correct = "every" if not falls else "fell" if curve[-1] < curve[0] else "dips"
    epochs = len(curve) - 1
    said = c.say("training.said", model=VARIANTS[name].title, first=b(f"{curve[0]:.3f}"), last=b(f"{curve[-1]:.3f}"),
                 epochs=epochs,
                 epochs_word=plural(c.lang, "gen.n.epochs", epochs), falls=falls,
                 falls_word=plural(c.lang, "gen.n.times", falls), best=h.best_epoch, kept=b(f"{curve[h.best_epoch]:.3f}"))  # fmt: skip
    return Answer(correct, said)


def yourturn(c: Context) -> Answer:
    if c.a.gt is None:
        return Answer(None, c.say("yourturn.no_truth"))
    if c.painted is None:
        return Answer(None, c.say("yourturn.no_paint"))
    first = next(iter(skip_family(c.a.models)), next(iter(c.a.models)))
    mine = image_metrics(c.painted, c.a.gt)["miou"]
    theirs = c.a.models[first].metrics["miou"]
    said = c.say("yourturn.said", you=b(f"{mine:.3f}"), model=c.a.models[first].title, theirs=b(f"{theirs:.3f}"))
    return Answer("yes" if mine > theirs else "no", said)


ANSWERS: dict[str, Callable[[Context], Answer]] = {
    "segment": segment,
    "stride": stride,
    "field": field,
    "skips": skips,
    "ablation": ablation,
    "upsampling": upsampling,
    "unet": unet,
    "failure": failure,
    "training": training,
    "yourturn": yourturn,
}
