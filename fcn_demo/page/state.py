"""The page's state as data: the settings a visitor changes (:class:`Settings`, with its defaults)
and the ordered description of the views (:class:`View`). Everything the events pass positionally
is derived here from the two, never counted by hand:

- an input's answer (:meth:`Views.answer`): every view that shows an image's results, in order;
- a redraw event's answer (:meth:`Views.redraw`): the views that read the settings it is sent;
- the translation pass (:meth:`Views.translation`): what the views show before an image, in a language;
- a share link's restore (:meth:`Views.restore`): the photo, the answer, the settings, the tab.

Adding a view is one :class:`View` in fcn_demo.page.views.describe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from fcn_demo.core.data import CLASSES
from fcn_demo.core.display import OVERLAY_OPACITY
from fcn_demo.request.analysis import Analysis

VIEW_MODES = ("overlay", "mask only", "error map")  # how the Compare panels draw a mask
MAPS_VIEWS = ("probability", "raw score")  # how the Maps tab colours a map
CONTROL_IDS = {"opacity": "opacity", "mode": "mode", "cls": "cls", "maps": "prob"}  # a setting -> its control


@dataclass(frozen=True)
class Settings:
    """The view settings: the page's controls, a share link's query and the API's parameters, in
    this order (``switches``: one per (model, skip), in the page's order; True = on)."""

    opacity: float = OVERLAY_OPACITY
    mode: str = "overlay"
    cls: int = CLASSES.index("pet")
    maps: str = "probability"
    switches: tuple[bool, ...] = ()

    @staticmethod
    def control_ids(skips: Sequence[tuple[str, str]], names: Sequence[str] | None = None) -> list[str]:
        """The controls' ids (elem_ids) of the fields ``names`` (default all), one per value of :meth:`values`."""
        names = [f.name for f in fields(Settings)] if names is None else names
        switches = [f"skip-{n}-{p}" for n, p in skips]
        return [i for n in names for i in (switches if n == "switches" else [CONTROL_IDS[n]])]

    @classmethod
    def of(cls, values: Sequence, names: Sequence[str] | None = None) -> Settings:
        """Settings from controls' values: all of them in order, or those of the fields ``names``
        (the rest keep their defaults)."""
        names = [f.name for f in fields(cls)] if names is None else list(names)
        last = names[-1] == "switches" if names else False
        head = dict(zip(names[:-1] if last else names, values))
        return cls(**head, **({"switches": tuple(values[len(names) - 1 :])} if last else {}))

    def values(self) -> list:
        """The controls' values, in the order of :meth:`control_ids`."""
        return [self.opacity, self.mode, self.cls, self.maps, *self.switches]

    def drops(self, skips: Sequence[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
        """Model name -> the skips switched off (``skips``: the switches' (model, pool), in order)."""
        out: dict[str, tuple[str, ...]] = {n: () for n, _ in skips}
        for (n, p), on in zip(skips, self.switches):
            out[n] += () if on else (p,)
        return out


class Drawing:
    """One drawing of the views: an analysis (None before an image), the settings and the language.
    (The maps several views read, like the models' disagreement, the analysis computes once.)"""

    def __init__(self, st, a: Analysis | None, s: Settings, lang: str = "en") -> None:
        self.st, self.a, self.s, self.lang = st, a, s, lang


@dataclass(frozen=True)
class View:
    """One view of the page.

    id: the component's elem_id, and the view's name in every derived list.
    make: ``make(id, value) -> component``: the component, built with its first value.
    draw: ``draw(Drawing) -> value``: what it shows; with no image (``Drawing.a`` None) and the
        default settings, what it shows before an image (its blank).
    per_image: whether an input's answer redraws it (False: fixed text, drawn only per language).
    words: whether its blank has words to redraw in the visitor's language (the page is built in English).
    slot: where the layout puts it (fcn_demo.page.layout.Layout.slot), in description order.
    reads: the settings its drawing reads; a change of one of them redraws it (with ``redraw``).
    redraw: the api_name of the event that redraws it when ``reads`` change.
    built_blank: whether the page is built showing its blank (False: empty until its tab is opened).
    """

    id: str
    make: Callable[[str, Any], gr.components.Component]
    draw: Callable[[Drawing], Any]
    per_image: bool = True
    words: bool = True
    slot: str | None = None
    reads: tuple[str, ...] = ()
    redraw: str | None = None
    built_blank: bool = True

    def blank(self, st, lang: str = "en") -> Any:
        """What it shows before an image, in ``lang``."""
        return self.draw(Drawing(st, None, Settings(), lang))


class Views:
    """The ordered description of the views, and every list derived from it."""

    def __init__(self, views: Iterable[View], skips: Sequence[tuple[str, str]] = ()) -> None:
        self.views = tuple(views)
        ids = [v.id for v in self.views]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two views share an id: {sorted(i for i in ids if ids.count(i) > 1)}")
        self.by_id = {v.id: v for v in self.views}
        self.skips = tuple(skips)
        self.translations: dict[str, dict[str, Any]] = {}  # language -> view id -> its blank in it

    def __iter__(self):
        return iter(self.views)

    def __getitem__(self, view_id: str) -> View:
        return self.by_id[view_id]

    # ------------------------------------------------------------ the derived id lists

    @property
    def outputs(self) -> list[str]:
        """An input's outputs: every view that draws an image's results, in order."""
        return [v.id for v in self.views if v.per_image]

    @property
    def translated(self) -> list[str]:
        """The translation pass's outputs (after the language itself): every view with words."""
        return [v.id for v in self.views if v.words]

    @property
    def controls(self) -> list[str]:
        return Settings.control_ids(self.skips)

    @property
    def restored(self) -> list[str]:
        """A share link restore's outputs: the photo, an input's outputs, the controls, the tabs."""
        return ["image-in", *self.outputs, *self.controls, "tabs"]

    def redraws(self) -> dict[str, tuple[list[str], list[str]]]:
        """api_name -> (the settings fields it is sent, in Settings' order; the views it redraws)."""
        out: dict[str, tuple[list[str], list[str]]] = {}
        order = [f.name for f in fields(Settings)]
        for v in self.views:
            if v.redraw:
                reads, ids = out.setdefault(v.redraw, ([], []))
                reads += [r for r in v.reads if r not in reads]
                ids.append(v.id)
        return {k: (sorted(reads, key=order.index), ids) for k, (reads, ids) in out.items()}

    # ------------------------------------------------------------ answers, in those orders

    @staticmethod
    def ordered(ids: Sequence[str], values: dict[str, Any]) -> list:
        """``values`` (view id -> value) in the order of ``ids``; a missing one is left as it is."""
        return [values[i] if i in values else gr.skip() for i in ids]

    def draw(self, ids: Sequence[str], d: Drawing) -> dict[str, Any]:
        return {i: self[i].draw(d) for i in ids}

    def answer(self, st, a: Analysis | None, s: Settings, lang: str = "en") -> list:
        """Everything an input changes: every view of :attr:`outputs`, drawn for ``a``."""
        return self.ordered(self.outputs, self.draw(self.outputs, Drawing(st, a, s, lang)))

    def redraw(self, st, name: str) -> Callable[..., list]:
        """The handler of redraw event ``name``: ``fn(a, *its settings' values, lang=) -> its views``."""
        reads, ids = self.redraws()[name]

        def fn(a: Analysis | None, *values, lang: str = "en") -> list:
            return self.ordered(ids, self.draw(ids, Drawing(st, a, Settings.of(values, reads), lang)))

        fn.__name__ = name
        return fn

    def blanks(self, st, lang: str = "en") -> dict[str, Any]:
        """What every view with a blank shows before an image, in ``lang`` (drawn once per language)."""
        if lang not in self.translations:
            self.translations[lang] = {i: self[i].blank(st, lang) for i in self.translated}
        return self.translations[lang]

    def translation(self, st, a: Analysis | None, lang: str = "en") -> list:
        """The translation pass's answer after the language: the page is built in English, so nothing
        for English; else every blank in ``lang``, except the views an image already filled (they
        were drawn in ``lang``)."""
        if lang == "en":
            return self.ordered(self.translated, {})
        shown = set(self.outputs) if a is not None else set()
        page = self.blanks(st, lang)
        return self.ordered(self.translated, {i: v for i, v in page.items() if i not in shown})

    def restore(self, image: Any, answer: Sequence | None, s: Settings | None, tab: str | None) -> list:
        """A share link's answer in the order of :attr:`restored` (None: that part is left as it is)."""
        values: dict[str, Any] = {} if image is None else {"image-in": image}
        if answer is not None:
            values |= dict(zip(self.outputs, answer, strict=True))
        if s is not None:
            values |= dict(zip(self.controls, s.values(), strict=True))
        if tab:
            values["tabs"] = gr.Tabs(selected=tab)
        return self.ordered(self.restored, values)
