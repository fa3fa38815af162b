"""The page's handlers: each maps widgets to one call of the request layer and its result back
to widgets (fcn_demo.request.analysis does the work, the views of fcn_demo.page.views draw it, in
the orders fcn_demo.page.state derives). app.py lays out the page and wires these to events.

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
from fcn_demo.core.i18n import locale, say, text
from fcn_demo.core.inputs import InputError, payload_source
from fcn_demo.core.samples import SAMPLES_DIR, list_samples
from fcn_demo.models import VARIANTS
from fcn_demo.page import api, architecture, exercise, linked, probe, reach, share, slides, upsampling, whatif
from fcn_demo.page.metrics import read_metrics
from fcn_demo.page.parts import image_name, why_unavailable
from fcn_demo.page.state import MAPS_VIEWS, Settings
from fcn_demo.page.views import describe
from fcn_demo.request.analysis import Analyzer, Requests
from fcn_demo.request.export import MaskFiles
from fcn_demo.request.probe_grid import ProbeGrid, weights_digest

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
        except InputError as e:  # a toast shows HTML: its values (a setting, a size) go in as text
            raise gr.Error(html.escape(e.text(lang), quote=False), title=text(lang, e.title),
                           print_exception=False) from None  # fmt: skip
        except gr.Error:
            raise
        except Exception:
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(text(lang, "gen.error.internal"), title=text(lang, "gen.error.title_internal"),
                           print_exception=False) from None  # fmt: skip

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
    """The server process's share: loaded models' records, the request layer, the download files,
    and the page's views (:attr:`views`, from which every event's positional lists are derived)."""

    def __init__(self, loaded: dict, device) -> None:
        self.loaded = loaded
        self.names = [n for n in VARIANTS if n in loaded]
        models = {n: loaded[n].model for n in self.names if loaded[n].model is not None}
        self.analyzer = Analyzer(models, device)
        unavailable = {n: loaded[n].error for n in self.names if loaded[n].model is None}
        # A click on a pixel is a model step of its own (forward and backward), and so is the probe API.
        self.run_probe = gpu(self.analyzer.probe, self.analyzer.probe_seconds)
        # The gallery samples' probes, computed ahead for these very weights (fcn_demo.request.probe_grid).
        weights = {n: weights_digest(loaded[n].folder, n) for n in models}
        self.requests = Requests(gpu(self.analyzer.analyze, self.analyzer.analyze_seconds), unavailable,
                                 probe=self.run_probe, grid=ProbeGrid.read(), weights=weights)  # fmt: skip
        self.files = MaskFiles()
        self.samples = list_samples()
        folders = {n: loaded[n].folder for n in self.names if loaded[n].folder is not None}
        self.histories = {n: TrainingHistory.read(f) for n, f in folders.items() if (Path(f) / "history.json").exists()}
        self.skips = [(n, p) for n in self.names for p in VARIANTS[n].skips]  # the ablation's switches
        self.metrics = read_metrics([m.folder for m in loaded.values()])
        self.newest: dict[str, int] = {}  # visitor session -> number of its newest input (see fresh)
        self.lock = threading.Lock()
        # The (kernel, stride) of the loaded FCNs' learned 2x upsamplings, read once from their modules.
        self.learned_upsampling = tuple(sorted({(up.kernel_size[0], up.stride[0]) for m in models.values()
                                                for up in getattr(m, "upscore", {}).values()}))  # fmt: skip
        # Each model's theoretical receptive field (layer arithmetic, read once from its modules).
        self.fields = {n: m.receptive_field() for n, m in models.items()}
        self.views = describe(self)
        # A setting's change redraws the views that read it, from the state alone (api_names: panels, maps, ablate).
        for name in self.views.redraws():
            setattr(self, name, self.views.redraw(self, name))

    # ------------------------------------------------------------ handlers: widgets <-> request layer

    def no_models(self, lang: str = "en") -> gr.Error:
        why = "; ".join(f"{VARIANTS[n].title}: {why_unavailable(self.loaded[n].error)}" for n in self.names)
        return gr.Error(html.escape(text(lang, "gen.error.no_models", why=why), quote=False),
                        title=text(lang, "gen.error.title_no_models"))  # fmt: skip

    def segment(self, source, *controls, lang: str = "en") -> list:
        """Everything an input changes, in one answer (the views of :attr:`Views.outputs`): no view
        can show another image's results. ``controls``: the settings' values (Settings.values's
        order); ``lang``: the language of its words (one of fcn_demo.core.i18n.LOCALES)."""
        if not self.analyzer.models:
            raise self.no_models(lang)
        s = Settings.of(controls)
        share.check_settings(s.opacity, s.mode, s.cls, s.maps, s.switches)
        a = self.requests.analyze(source)
        for said in a.notes:
            gr.Info(html.escape(say(lang, said), quote=False), title=text(lang, "gen.toast.info"))
        return self.views.answer(self, a, s, lang)

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

    def download(self, a) -> str:
        """The masks of the image on the page as a zip (one palette PNG per model at the image's
        size): written now, when asked, and reused for the next visitor who asks."""
        if a is None:
            raise InputError.say("gen.error.pick")
        return str(self.files.of(a)[-1])

    def slide_compare(self, a, opacity, mode, lang: str = "en") -> str:
        """The Compare tab as one PNG for a teacher's slides, its captions in ``lang`` (made when asked)."""
        if a is None:
            raise InputError.say("gen.error.pick")
        share.check_settings(opacity, mode, Settings.cls, Settings.maps, ())
        picture = slides.compare_slide(a, self.names, float(opacity), mode, lang)
        return str(slides.save(picture, self.files.folder(a.digest), f"{a.label}_compare_{lang}"))

    def slide_maps(self, a, name, cls, maps, lang: str = "en") -> str:
        """Model ``name``'s row of the Skip-layer maps tab as one PNG for a teacher's slides, in ``lang``."""
        if a is None:
            raise InputError.say("gen.error.pick")
        share.check_settings(Settings.opacity, Settings.mode, cls, maps, ())
        if name not in a.models:
            raise InputError.say("gen.error.choice", title="gen.error.title_setting", setting="row",
                                 choices=", ".join(a.models))  # fmt: skip
        picture = slides.maps_slide(a, name, int(cls), maps == MAPS_VIEWS[0], lang)
        return str(slides.save(picture, self.files.folder(a.digest), f"{a.label}_maps_{name}_{lang}"))

    def localize(self, a, lang: str = "en") -> list:
        """The visitor's language, once the page knows it, and the page's server-drawn HTML in it (the
        page is built in English): what shows before an image, unless one is already shown (its views
        were drawn in ``lang``), and the tables and texts that never change."""
        return [lang, *self.views.translation(self, a, lang)]

    @functools.cache  # noqa: B019 (one DemoState per server: the cache lives as long as the page)
    def architecture(self, lang: str = "en") -> str:
        """Every loaded model drawn as blocks in ``lang`` (read from the modules; nothing runs)."""
        return architecture.panel(self.analyzer.models, lang)

    def whatif(self, kernel, stride, lang: str = "en") -> str:
        """The transposed-convolution what-if for the sliders' values, beside the loaded FCNs' own
        learned upsampling (kernel and stride read from their modules)."""
        return whatif.panel(*whatif.checked(kernel, stride), lang, self.learned_upsampling)

    def upsampling(self, lang: str = "en") -> str:
        """The upsampling lesson in ``lang``: static, from the weights, drawn once per language."""
        return upsampling.upsampling_lesson(self.analyzer.models, lang)

    def restore(self, search: str, lang: str = "en") -> list:
        """A shared link (?sample=...&tab=...&opacity=...): the settings it names, and its sample segmented."""
        query = dict(parse_qsl(search.lstrip("?") if isinstance(search, str) else ""))
        link = share.parse(query, [s.name for s in self.samples], self.skips, TABS)
        if link is None:
            return self.views.restore(None, None, None, None)
        s = link.settings()
        if link.sample is None:
            if query.get("sample"):
                # A toast shows HTML: the link's text goes in escaped (and cut short), as text.
                name = html.escape(repr(query["sample"][:80]))
                gr.Warning(text(lang, "gen.toast.no_sample", name=name), title=text(lang, "gen.toast.warning"))
            return self.views.restore(None, None, s, link.tab)
        image = str(self.samples[[s.name for s in self.samples].index(link.sample)].image)
        return self.views.restore(image, self.segment(image, *s.values(), lang=lang), s, link.tab)

    def probe(self, a, evt: gr.SelectData, lang: str = "en") -> list:
        """A click on the photo: every model's answer and receptive fields at that pixel, and what the
        field what-if keeps of it (:meth:`reach` draws the what-if after it)."""
        if a is None:
            return self._probed(None, None, lang)
        index = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else (None, None)
        x, y = _point(*index)  # the click's event data: the page's, or forged
        h, w = a.size
        if not (0 <= x < w and 0 <= y < h):
            raise InputError.say("gen.error.point_outside", title="gen.error.title_point", x=x, y=y, w=w, h=h)
        return self._probed(a, self.requests.probe_pixel(a.digest, a.rgb, int(x), int(y)), lang)

    def probe_at(self, a, at, lang: str = "en") -> list:
        """A pixel chosen on any picture of the image (linked views: web/linked.js sends where, as
        fractions of the picture): the same answer as a click on the Ask-a-pixel photo."""
        if a is None:
            return self._probed(None, None, lang)
        x, y = linked.pixel(at, a.size)
        return self._probed(a, self.requests.probe_pixel(a.digest, a.rgb, x, y), lang)

    @staticmethod
    def _probed(a, p, lang: str) -> list:
        if a is None or p is None:
            return [probe.probe_panels(None, None, lang=lang), None]
        return [probe.probe_panels(p, a.rgb, image_name(a, lang), lang), reach.Asked.of(p)]

    def reach(self, a, asked, short, lang: str = "en") -> str:
        """The field what-if for the last probed pixel at working size ``short`` (no model runs)."""
        rgb = a.rgb if a is not None else None
        label = image_name(a, lang) if a is not None else ""
        return reach.panel(rgb, asked if isinstance(asked, reach.Asked) else None, self.fields, short, label, lang)

    def api_probe(self, image, x: float, y: float) -> dict:
        """Probe one pixel (x, y: column and row in the image's own pixels) with every model: class
        probabilities, the theoretical receptive field (a box) and the effective one (the radius
        holding 90% of the gradient of the winning logit), and a sentence comparing them."""
        if not self.analyzer.models:
            raise self.no_models()
        x, y = _point(x, y)
        return api.probe_summary(self.requests.probe(payload_source(image, allowed_folders()), x, y))

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
        paths = [str(p) for p in self.files.of(a)[:-1]]
        sources = {n: self.loaded[n].source for n in a.models}
        return paths, api.api_summary(a, {n: Path(p).name for n, p in zip(a.models, paths)}, sources)
