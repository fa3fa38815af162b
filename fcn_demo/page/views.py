"""The views of the page, in order: the one description the events, the translation pass and the
share-link restore are derived from (fcn_demo.page.state). Adding a view is one entry here; its
``slot`` puts it in its tab's layout.

Each view draws from a :class:`~fcn_demo.page.state.Drawing` (the analysis, the settings, the
language, and the maps several views read, computed once) and says what it shows before an image
in any language (its ``blank``)."""

from __future__ import annotations

import gradio as gr

from fcn_demo.models import VARIANTS
from fcn_demo.page import ablation, compare, exercise, lessons, maps, metrics, photo, probe, reach, replay
from fcn_demo.page.api import probe_summary
from fcn_demo.page.layout import html
from fcn_demo.page.metrics import provenance
from fcn_demo.page.probe import probe_panels
from fcn_demo.page.state import Drawing, View, Views

# Where these lived before the page was split by tab (tests/test_probe.py and test_lineage.py import
# them from here); new code imports them from their tab's module.
__all__ = ["describe", "notice", "probe_panels", "probe_summary", "provenance"]


def notice(d: Drawing, view: str, **kw) -> str:
    """What to notice in a view, computed from this image's numbers (nothing before an image)."""
    said = lessons.notice(view, d.a, d.lang, **kw) if d.a is not None else ""
    return f'<div class="notice">{said}</div>' if said else ""


def precomputed(d: Drawing) -> bool:
    """Whether the pixel probes of the drawing's image are precomputed (a gallery sample)."""
    requests = getattr(d.st, "requests", None)
    return d.a is not None and requests is not None and requests.precomputed(d.a.digest)


def describe(st) -> Views:
    """The page's views for the server state ``st`` (its models' names, their skips, the metrics).
    A view's drawing with no image (``d.a`` None) and the default settings is what it shows first."""
    names, skips = st.names, st.skips
    panel = html(elem_classes=["panel"])
    fixed = {"per_image": False}  # text that does not change with the image, only with the language
    quiet = {"words": False}  # nothing to translate: data, a picture, or nothing before an image
    # A table, a view a line or two: kept as written.
    # fmt: off
    return Views(
        [
            View("state", lambda i, v: gr.State(v), lambda d: d.a, slot="page", **quiet),
            View("trained-on", html(), lambda d: photo.trained_on(d.st.histories, d.lang), slot="photo", **fixed),
            View("status", html(), lambda d: photo.status(d.a, d.lang, precomputed(d)), slot="status"),
            View("download", photo.download, lambda d: gr.update(interactive=True), slot="status", **quiet),
            # Compare
            *(
                View(f"panel-{n}", panel, lambda d, n=n: compare.panel(d.a, n, d.s.opacity, d.s.mode, d.lang),
                     slot="panels", reads=("opacity", "mode"), redraw="panels")
                for n in names
            ),
            View("panel-truth", panel, lambda d: compare.ground_truth_panel(d.a, d.lang), slot="panels"),
            View("panel-disagree", panel, lambda d: compare.disagreement_panel(d.a, d.lang), slot="panels"),
            View("compare-notice", html(), lambda d: notice(d, "compare"), slot="compare", **quiet),
            # Maps
            View("maps-out", html(), lambda d: notice(d, "maps") + maps.skip_maps(d.a, names, int(d.s.cls),
                                                                                 d.s.maps == "probability", d.lang),
                 slot="maps", reads=("cls", "maps"), redraw="maps"),
            View("architecture", html(), lambda d: d.st.architecture(d.lang), slot="maps-architecture", **fixed),
            # Ablation (each skip net's view sits under its switches, placed by ablation.layout)
            *(
                View(f"ablate-{n}", panel, lambda d, n=n: ablation.ablation(d.a, n, d.s.drops(skips)[n], d.lang),
                     reads=("switches",), redraw="ablate")
                for n in names
                if VARIANTS[n].skips
            ),
            View("ablate-ref", panel, lambda d: ablation.reference(d.a, names[0], d.lang), slot="ablation-reference",
                 redraw="ablate"),
            View("ablate-notice", html(), lambda d: notice(d, "ablation", drops=d.s.drops(skips)), slot="ablation",
                 reads=("switches",), redraw="ablate", **quiet),
            # Exercise
            View("editor", exercise.editor, lambda d: exercise.canvas(d.a), slot="exercise", **quiet),
            View("grade-out", html(), lambda d: exercise.grade(d.a, None, d.lang), slot="exercise-grade"),
            # Lessons
            View("confidence-out", html(),
                 lambda d: notice(d, "confidence") + lessons.confidence_panels(d.a, names, d.lang), slot="lessons"),
            # Drawn on the tab's first visit (matplotlib is not imported at start-up), then reused.
            View("upsampling", html(), lambda d: d.st.upsampling(d.lang), slot="lessons", built_blank=False, **fixed),
            # Training replay: drawn in the browser, in the browser's language (fcn_demo.page.replay)
            View("replay", replay.maker(st), lambda d: None, slot="replay", per_image=False, **quiet),
            # Metrics
            View("metrics-table", html(), lambda d: metrics.metrics_tables(d.st.metrics, d.lang), slot="metrics",
                 **fixed),
            View("provenance", html(), lambda d: metrics.provenance(d.st.loaded, d.st.histories, d.lang),
                 slot="metrics-after", **fixed),
            View("confusion", html(), lambda d: metrics.confusion_tables(d.st.metrics, d.a, d.lang),
                 slot="metrics-after"),
            # Probe
            View("probe-photo", probe.photo, lambda d: d.a.rgb if d.a is not None else None, slot="probe", **quiet),
            View("probe-out", html(scale=3), lambda d: probe.probe_panels(None, None, lang=d.lang), slot="probe"),
            View("reach-asked", lambda i, v: gr.State(v), lambda d: None, slot="reach", **quiet),
            View("reach-out", html(), lambda d: reach.empty_panel(d.lang), slot="reach"),
        ],
        skips,
    )
    # fmt: on
