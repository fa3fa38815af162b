"""The page's handlers: each maps widgets to one call of the request layer and its result back
to widgets (fcn_demo.request.analysis does the work, fcn_demo.page.views draws it). app.py lays out the page
and wires these to events.

On a ZeroGPU Space the model steps (``Analyzer.analyze``, ``Analyzer.probe``) are wrapped in
``spaces.GPU``: each runs in a worker process forked for the call and returns plain data; every
other handler draws from that data in the server process, which never runs a model.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import os
import threading
from functools import wraps
from pathlib import Path
from urllib.parse import parse_qsl

import gradio as gr
from gradio.utils import get_upload_folder

from fcn_demo.core.checkpoint import TrainingHistory
from fcn_demo.core.i18n import locale, note, text
from fcn_demo.core.inputs import InputError, payload_source
from fcn_demo.core.samples import SAMPLES_DIR, list_samples
from fcn_demo.models import VARIANTS
from fcn_demo.page import exercise, lessons, share, views
from fcn_demo.request.analysis import Analyzer, Requests
from fcn_demo.request.export import MaskFiles

try:  # On a ZeroGPU Space the model step borrows a GPU, in a worker process forked for the call.
    import spaces
except ImportError:
    spaces = None
# The Space sets SPACES_ZERO_GPU; elsewhere spaces.GPU changes nothing (and the server warms up its models).
ZEROGPU = spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def gpu(fn, duration):
    """``fn`` as one ZeroGPU call that asks for ``duration(*args)`` seconds of GPU (the visitor's
    quota must cover it 1.5 times, and shorter requests wait less in ZeroGPU's queue)."""
    return spaces.GPU(fn, duration=duration) if ZEROGPU else fn


log = logging.getLogger("fcn-demo")
SESSIONS_KEPT = int(os.environ.get("FCN_DEMO_SESSIONS", "200"))  # visitor sessions kept in memory (launch_kwargs)
# Events that may wait in the queue at once (demo.queue's max_size; under ZeroGPU, Gradio allows 1
# unless told). A class of 60 opening the teacher's link, clicking a sample and then a pixel has up
# to three events each waiting: 180, with room. Beyond it a visitor is told "Queue is full".
QUEUE_SIZE = 240
TABS = ["compare", "probe", "maps", "ablation", "lessons", "replay", "exercise", "metrics"]  # the tabs' ids, in order


def notice(a, view: str, lang: str = "en", **kw) -> str:
    """What to notice in a view, computed from this image's numbers (nothing before an image)."""
    said = lessons.notice(view, a, lang, **kw) if a is not None else ""
    return f'<div class="notice">{said}</div>' if said else ""


def localized(fn):
    """``fn`` for an event whose last input is the visitor's language (the ``lang`` State, or the
    browser's own tag, navigator.language): as one of fcn_demo.core.i18n.LOCALES, it goes to ``fn`` as ``lang=``."""

    @wraps(fn)
    def inner(*args):
        *rest, tag = args
        return fn(*rest, lang=locale(tag))

    return inner


def friendly(fn):
    """Bad input becomes a message in the page (in the visitor's language when the event passes
    ``lang=``: wire it as ``localized(friendly(fn))``); anything unexpected is logged, never shown."""

    @wraps(fn)
    def inner(*args, **kwargs):
        lang = kwargs.get("lang", "en")
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            raise gr.Error(e.text(lang), title=text(lang, e.title), print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error("Something went wrong on our side. Please try again or use another image.",
                           title="Internal error", print_exception=False) from None  # fmt: skip

    return inner


def allowed_folders() -> tuple[Path, Path]:
    """Where a request may name a file: Gradio's upload folder (every upload lands there, in a
    folder named by a salted hash of its bytes) and the app's samples. Nothing else is opened."""
    return Path(get_upload_folder()), SAMPLES_DIR


def _point(x, y) -> tuple[float, float]:
    """A pixel's column and row as an API client or the page sent them: two finite numbers."""
    for v in (x, y):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError.say("gen.error.point_type")
    return float(x), float(y)


class DemoState:
    """The server process's share: loaded models' records, the request layer, the download files."""

    def __init__(self, loaded: dict, device) -> None:
        self.loaded = loaded
        self.names = [n for n in VARIANTS if n in loaded]
        models = {n: loaded[n].model for n in self.names if loaded[n].model is not None}
        self.analyzer = Analyzer(models, device)
        unavailable = {n: loaded[n].error for n in self.names if loaded[n].model is None}
        self.requests = Requests(gpu(self.analyzer.analyze, self.analyzer.analyze_seconds), unavailable)
        self.run_probe = gpu(self.analyzer.probe, self.analyzer.probe_seconds)  # a click on a pixel: its own step
        self.files = MaskFiles()
        self.samples = list_samples()
        folders = {n: loaded[n].folder for n in self.names if loaded[n].folder is not None}
        self.histories = {n: TrainingHistory.read(f) for n, f in folders.items() if (Path(f) / "history.json").exists()}
        self.skips = [(n, p) for n in self.names for p in VARIANTS[n].skips]  # the ablation's switches
        self.metrics = views.read_metrics([m.folder for m in loaded.values()])
        self.translated: dict[str, list] = {}  # language -> the page's server-drawn HTML in it (see localize)
        self.newest: dict[str, int] = {}  # visitor session -> number of its newest input (see fresh)
        self.lock = threading.Lock()

    def masks(self, a) -> list[str]:
        """Paths of the full-size mask PNGs, then of their zip."""
        return [str(p) for p in self.files.write(a.digest, {n: m.mask for n, m in a.models.items()},
                                                  a.original_size, a.sample or "image")]  # fmt: skip

    # ------------------------------------------------------------ handlers: widgets <-> request layer

    def no_models(self) -> gr.Error:
        why = "; ".join(f"{VARIANTS[n].title}: {views.why_unavailable(self.loaded[n].error)}" for n in self.names)
        return gr.Error(f"No model weights could be loaded ({why}).", title="The models are unavailable")

    def segment(self, source, opacity, mode, cls, prob, *switches, lang: str = "en") -> list:
        """Everything an input changes, in one answer: no view can show another image's results.
        ``lang``: the language of its words (one of fcn_demo.core.i18n.LOCALES)."""
        if not self.analyzer.models:
            raise self.no_models()
        share.check_settings(opacity, mode, cls, prob, switches)
        a = self.requests.analyze(source)
        for said in a.notes:
            gr.Info(note(lang, said))
        return [a, views.status(a, lang), gr.update(value=self.masks(a)[-1], interactive=True),
                *self.panels(a, opacity, mode, lang), *self.compare_extras(a, lang), self.maps(a, cls, prob, lang),
                *self.ablate(a, *switches, lang=lang), exercise.canvas(a), exercise.grade(a, None, lang),
                self.lessons(a, lang), lessons.confusion_tables(self.metrics, a, lang), a.rgb,
                views.probe_panels(None, None, lang=lang)]  # fmt: skip

    @staticmethod
    def choose(evt: gr.SelectData) -> int:
        """Which sample was clicked (no model: the model step reads the latest choice)."""
        return evt.index

    def pick(self, request: gr.Request, index: int, *controls, lang: str = "en") -> list:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.samples):
            raise InputError.say("gen.error.pick")  # no click recorded, or the click's data was forged
        ticket, image = self.ticket(request), str(self.samples[index].image)
        return self.fresh(ticket, [image, *self.segment(image, *controls, lang=lang)])

    def upload(self, request: gr.Request, payload, *controls, lang: str = "en") -> list:
        ticket = self.ticket(request)
        return self.fresh(ticket, self.segment(payload_source(payload, allowed_folders()), *controls, lang=lang))

    def ticket(self, request: gr.Request | None) -> tuple[str, int]:
        """Number this input as its visitor's newest (a sample click and an upload are two events, so
        Gradio's trigger_mode cannot order one against the other)."""
        key = getattr(request, "session_hash", None) or ""
        with self.lock:
            n = self.newest[key] = self.newest.pop(key, 0) + 1  # re-inserted: the dict stays oldest-first
            while len(self.newest) > SESSIONS_KEPT:
                del self.newest[next(iter(self.newest))]
        return key, n

    def fresh(self, ticket: tuple[str, int], answer: list) -> list:
        """``answer``, or no change at all if a newer input of the same visitor came in meanwhile."""
        return answer if self.newest.get(ticket[0]) == ticket[1] else [gr.skip()] * len(answer)

    def panels(self, a, opacity, mode, lang: str = "en") -> list[str]:
        return [views.panel(a, n, opacity, mode, lang) for n in self.names]

    def compare_extras(self, a, lang: str = "en") -> list[str]:
        """The ground truth, where the models disagree, and what to notice on this image."""
        return [lessons.ground_truth_panel(a, lang), lessons.disagreement_panel(a, lang), notice(a, "compare", lang)]

    def maps(self, a, cls, prob, lang: str = "en") -> str:
        return notice(a, "maps", lang) + views.skip_maps(a, self.names, int(cls), prob == "probability", lang)

    def ablate(self, a, *switches, lang: str = "en") -> list[str]:
        drops = {n: tuple(p for (m, p), on in zip(self.skips, switches) if m == n and not on) for n in self.names}
        out = [views.ablation(a, n, drops[n], lang) for n in self.names if VARIANTS[n].skips]
        return [*out, views.reference(a, self.names[0], lang), notice(a, "ablation", lang, drops=drops)]

    def lessons(self, a, lang: str = "en") -> str:
        return notice(a, "confidence", lang) + lessons.confidence_panels(a, self.names, lang)

    def localize(self, a, lang: str = "en") -> list:
        """The visitor's language, once the page knows it, and the page's server-drawn HTML in it (the
        page is built in English): what shows before an image, unless one is already shown (its views
        were drawn in ``lang``), then the tables and texts that never change."""
        if lang == "en":
            return [lang] + [gr.skip()] * (len(self.blanks) + 4)
        if lang not in self.translated:
            self.translated[lang] = [
                *self.blank_views(lang), views.trained_on(self.histories, lang), views.metrics_tables(self.metrics, lang),
                views.provenance(self.loaded, self.histories, lang), self.upsampling(lang)
            ]  # fmt: skip
        page = self.translated[lang]
        return [lang, *([gr.skip()] * len(self.blanks) + page[len(self.blanks) :] if a is not None else page)]

    @functools.cache  # noqa: B019 (one DemoState per server: the cache lives as long as the page)
    def upsampling(self, lang: str = "en") -> str:
        """The upsampling lesson in ``lang``: static, from the weights, drawn once per language."""
        return lessons.upsampling_lesson(self.analyzer.models, lang)

    def blank_views(self, lang: str = "en") -> list:
        """What every view in :attr:`blanks` shows before the first image."""
        empty = {"status": views.status(None, lang), "truth": lessons.ground_truth_panel(None, lang),
                 "disagree": lessons.disagreement_panel(None, lang),
                 "maps": views.skip_maps(None, self.names, 1, True, lang), "grade": exercise.grade(None, None, lang),
                 "lessons": lessons.confidence_panels(None, self.names, lang), "probe": views.probe_panels(None, None, lang=lang),
                 "confusion": lessons.confusion_tables(self.metrics, None, lang)}  # fmt: skip
        empty |= {f"panel-{n}": views.panel(None, n, lang=lang) for n in self.names}
        empty |= {f"ablate-{n}": views.ablation(None, n, (), lang) for n in self.names if VARIANTS[n].skips}
        empty["ablate-ref"] = views.reference(None, self.names[0], lang)
        return [empty[k] for k in self.blanks]

    def restore(self, search: str, lang: str = "en") -> list:
        """A shared link (?sample=...&tab=...&opacity=...): the settings it names, and its sample segmented."""
        query = dict(parse_qsl(search.lstrip("?") if isinstance(search, str) else ""))
        link = share.parse(query, [s.name for s in self.samples], self.skips, TABS)
        if link is None:
            return [gr.skip()] * (2 + len(self.outputs) + len(self.controls))
        settings = [link.opacity, link.mode, link.cls, link.maps, *link.switches]
        if link.sample is None:
            if query.get("sample"):
                # A toast shows HTML: the link's text goes in escaped (and cut short), as text.
                name = html.escape(repr(query["sample"][:80]))
                gr.Warning(text(lang, "gen.toast.no_sample", name=name))
            image, results = gr.skip(), [gr.skip()] * len(self.outputs)
        else:
            image = str(self.samples[[s.name for s in self.samples].index(link.sample)].image)
            results = self.segment(image, *settings, lang=lang)
        return [image, *results, *settings, gr.Tabs(selected=link.tab) if link.tab else gr.skip()]

    def probe(self, a, evt: gr.SelectData, lang: str = "en") -> str:
        """A click on the photo: every model's answer and receptive fields at that pixel."""
        if a is None:
            return views.probe_panels(None, None, lang=lang)
        index = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else (None, None)
        x, y = _point(*index)  # the click's event data: the page's, or forged
        h, w = a.size
        if not (0 <= x < w and 0 <= y < h):
            raise InputError.say("gen.error.point_outside", title="gen.error.title_point", x=x, y=y, w=w, h=h)
        return views.probe_panels(self.run_probe(a.rgb, int(x), int(y)), a.rgb, views.image_name(a, lang), lang)

    def api_probe(self, image, x: float, y: float) -> dict:
        """Probe one pixel (x, y: column and row in the image's own pixels) with every model: class
        probabilities, the theoretical receptive field (a box) and the effective one (the radius
        holding 90% of the gradient of the winning logit), and a sentence comparing them."""
        if not self.analyzer.models:
            raise self.no_models()
        x, y = _point(x, y)
        a = self.requests.analyze(payload_source(image, allowed_folders()))
        (h, w), (H, W) = a.size, a.original_size
        if not (0 <= x < W and 0 <= y < H):
            raise InputError.say("gen.error.point_outside", title="gen.error.title_point", x=x, y=y, w=W, h=H)
        return views.probe_summary(self.run_probe(a.rgb, int(x * w / W), int(y * h / H)))

    def grade(self, a, painted, lang: str = "en") -> str:
        return exercise.grade(a, exercise.student_mask(painted, a.size) if a is not None else None, lang)

    def api_segment(self, image):
        """Segment one image with every model. Returns the masks (palette PNGs at the image's size,
        pixel value = class index: 0 background, 1 pet, 2 border) and a JSON summary with latencies,
        class shares, for sample images pixel accuracy, mIoU and border IoU, and why any model is
        unavailable."""
        if not self.analyzer.models:  # an empty answer would look like success
            raise self.no_models()
        a = self.requests.analyze(payload_source(image, allowed_folders()))
        paths = self.masks(a)[:-1]
        sources = {n: self.loaded[n].source for n in a.models}
        return paths, views.api_summary(a, {n: Path(p).name for n, p in zip(a.models, paths)}, sources)
