"""The views of the page, in order: the one description the events, the translation pass and the
share-link restore are derived from (fcn_demo.page.state). Adding a view is one entry here; its
``slot`` puts it in its tab's layout.

Each view draws from a :class:`~fcn_demo.page.state.Drawing` (the analysis, the settings, the
language, and the maps several views read, computed once) and says what it shows before an image
in any language (its ``blank``)."""

from __future__ import annotations

import gradio as gr

from fcn_demo.models import VARIANTS
from fcn_demo.page import ablation, compare, exercise, lessons, maps, metrics, photo, probe
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


def describe(st) -> Views:
    """The page's views for the server state ``st`` (its models' names, their skips, the metrics)."""
    names, skips = st.names, st.skips
    nets = [n for n in names if VARIANTS[n].skips]
    panel = html(elem_classes=["panel"])
    return Views(
        [
            View("state", lambda i, v: gr.State(v), draw=lambda d: d.a, slot="page"),
            View("trained-on", html(), blank=lambda st, lang: photo.trained_on(st.histories, lang), slot="photo"),
            View(
                "status",
                html(),
                draw=lambda d: photo.status(d.a, d.lang),
                blank=lambda st, lang: photo.status(None, lang),
                slot="status",
            ),  # fmt: skip
            View("download", photo.download, draw=lambda d: gr.update(interactive=True), slot="status"),
            # Compare
            *(
                View(
                    f"panel-{n}",
                    panel,
                    draw=lambda d, n=n: compare.panel(d.a, n, d.s.opacity, d.s.mode, d.lang),
                    blank=lambda st, lang, n=n: compare.panel(None, n, lang=lang),
                    slot="panels",
                    reads=("opacity", "mode"),
                    redraw="panels",
                )  # fmt: skip
                for n in names
            ),
            View(
                "panel-truth",
                panel,
                draw=lambda d: compare.ground_truth_panel(d.a, d.lang),
                blank=lambda st, lang: compare.ground_truth_panel(None, lang),
                slot="panels",
            ),  # fmt: skip
            View(
                "panel-disagree",
                panel,
                draw=lambda d: compare.disagreement_panel(d.a, d.lang),
                blank=lambda st, lang: compare.disagreement_panel(None, lang),
                slot="panels",
            ),  # fmt: skip
            View("compare-notice", html(), draw=lambda d: notice(d, "compare"), slot="compare"),
            # Maps
            View(
                "maps-out",
                html(),
                draw=lambda d: (
                    notice(d, "maps") + maps.skip_maps(d.a, names, int(d.s.cls), d.s.maps == "probability", d.lang)
                ),
                blank=lambda st, lang: maps.skip_maps(None, names, 1, True, lang),
                slot="maps",
                reads=("cls", "maps"),
                redraw="maps",
            ),  # fmt: skip
            # Ablation
            *(
                View(
                    f"ablate-{n}",
                    panel,
                    draw=lambda d, n=n: ablation.ablation(d.a, n, d.s.drops(skips)[n], d.lang),
                    blank=lambda st, lang, n=n: ablation.ablation(None, n, (), lang),
                    reads=("switches",),
                    redraw="ablate",
                )  # fmt: skip
                for n in nets
            ),
            View(
                "ablate-ref",
                panel,
                draw=lambda d: ablation.reference(d.a, names[0], d.lang),
                blank=lambda st, lang: ablation.reference(None, names[0], lang),
                slot="ablation-reference",
                redraw="ablate",
            ),  # fmt: skip
            View(
                "ablate-notice",
                html(),
                draw=lambda d: notice(d, "ablation", drops=d.s.drops(skips)),
                slot="ablation",
                reads=("switches",),
                redraw="ablate",
            ),  # fmt: skip
            # Exercise
            View("editor", exercise.editor, draw=lambda d: exercise.canvas(d.a), slot="exercise"),
            View(
                "grade-out",
                html(),
                draw=lambda d: exercise.grade(d.a, None, d.lang),
                blank=lambda st, lang: exercise.grade(None, None, lang),
                slot="exercise-grade",
            ),  # fmt: skip
            # Lessons
            View(
                "confidence-out",
                html(),
                draw=lambda d: notice(d, "confidence") + lessons.confidence_panels(d.a, names, d.lang),
                blank=lambda st, lang: lessons.confidence_panels(None, names, lang),
                slot="lessons",
            ),  # fmt: skip
            # Drawn on the tab's first visit (matplotlib is not imported at start-up), then reused.
            View("upsampling", html(), blank=lambda st, lang: st.upsampling(lang), slot="lessons", built_blank=False),
            # Metrics
            View(
                "metrics-table", html(), blank=lambda st, lang: metrics.metrics_tables(st.metrics, lang), slot="metrics"
            ),
            View(
                "provenance",
                html(),
                blank=lambda st, lang: metrics.provenance(st.loaded, st.histories, lang),
                slot="metrics-after",
            ),  # fmt: skip
            View(
                "confusion",
                html(),
                draw=lambda d: metrics.confusion_tables(d.st.metrics, d.a, d.lang),
                blank=lambda st, lang: metrics.confusion_tables(st.metrics, None, lang),
                slot="metrics-after",
            ),  # fmt: skip
            # Probe
            View("probe-photo", probe.photo, draw=lambda d: d.a.rgb if d.a is not None else None, slot="probe"),
            View(
                "probe-out",
                html(scale=3),
                draw=lambda d: probe.probe_panels(None, None, lang=d.lang),
                blank=lambda st, lang: probe.probe_panels(None, None, lang=lang),
                slot="probe",
            ),  # fmt: skip
        ],
        skips,
    )
