"""Share links: the query string of a link that restores a view of the page.

    /?sample=Bengal_193&tab=ablation&opacity=0.7&show=mask+only&class=border&maps=raw+score&off=fcn8s-pool3&epoch=5
    /?step=ablation&kernel=3&stride=2

``web/share.js`` writes it from the page; :func:`parse` reads it back, checking every value (a link
is typed by strangers: anything unknown is ignored, never an error). ``epoch`` is read by the
replay's own script; ``step`` (the guided lesson's step), ``kernel`` and ``stride`` (the what-if's
sliders) by :meth:`fcn_demo.page.guide.Guide.resume`. Uploads cannot travel in a link: they are stored nowhere.
:func:`check_settings` checks the same settings as an API client sends them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fcn_demo.core.data import CLASSES
from fcn_demo.core.inputs import InputError
from fcn_demo.page.state import MAPS_VIEWS, VIEW_MODES, Settings

# What a link leaves out: the settings record's defaults.
DEFAULTS = {"opacity": Settings.opacity, "mode": Settings.mode, "cls": Settings.cls, "maps": Settings.maps}


@dataclass
class Link:
    sample: str | None
    tab: str | None
    opacity: float
    mode: str
    cls: int
    maps: str
    switches: list[bool]  # one per (model, skip) switch, in the page's order: True = on

    def settings(self) -> Settings:
        """The view settings the link names."""
        return Settings(self.opacity, self.mode, self.cls, self.maps, tuple(self.switches))


def parse(query: dict[str, str], samples: list[str], skips: list[tuple[str, str]], tabs: list[str]) -> Link | None:
    """The view a link's query names (None for a plain visit: nothing to restore)."""
    keys = {"sample", "tab", "opacity", "show", "class", "maps", "off"}
    if not keys & set(query):
        return None
    try:
        opacity = min(1.0, max(0.0, float(query.get("opacity", DEFAULTS["opacity"]))))
    except ValueError:
        opacity = DEFAULTS["opacity"]
    off = set(query.get("off", "").split(","))
    return Link(
        sample=query.get("sample") if query.get("sample") in samples else None,
        tab=query.get("tab") if query.get("tab") in tabs else None,
        opacity=opacity,
        mode=query.get("show") if query.get("show") in VIEW_MODES else DEFAULTS["mode"],
        cls=CLASSES.index(query["class"]) if query.get("class") in CLASSES else DEFAULTS["cls"],
        maps=query.get("maps") if query.get("maps") in MAPS_VIEWS else DEFAULTS["maps"],
        switches=[f"{name}-{pool}" not in off for name, pool in skips],
    )


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_settings(opacity, mode, cls, maps, switches: Sequence) -> None:
    """View settings as the page or an API client sent them (unprocessed): each must be one the page
    can send, or an InputError says what to send."""

    def refuse(key: str, **fmt) -> InputError:
        return InputError.say(key, title="gen.error.title_setting", **fmt)

    if not (_number(opacity) and 0 <= opacity <= 1):
        raise refuse("gen.error.number", setting="opacity", low=0, high=1)
    if not (isinstance(mode, str) and mode in VIEW_MODES):
        raise refuse("gen.error.choice", setting="mode", choices=", ".join(f'"{m}"' for m in VIEW_MODES))
    if not (_number(cls) and cls in range(len(CLASSES))):
        raise refuse(
            "gen.error.choice", setting="class", choices=", ".join(f"{i} ({c})" for i, c in enumerate(CLASSES))
        )
    if not (isinstance(maps, str) and maps in MAPS_VIEWS):
        raise refuse("gen.error.choice", setting="maps", choices=", ".join(f'"{m}"' for m in MAPS_VIEWS))
    if not all(isinstance(s, bool) for s in switches):
        raise refuse("gen.error.switch")
