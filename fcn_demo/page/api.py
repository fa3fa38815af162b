"""The JSON the API endpoints return (``segment``, ``probe``): plain numbers and names, in English."""

from __future__ import annotations

from fcn_demo.core.data import CLASSES
from fcn_demo.request.analysis import Analysis
from fcn_demo.request.probe import Probe


def api_summary(a: Analysis, mask_names: dict[str, str], sources: dict[str, str]) -> dict:
    """The ``segment`` endpoint's JSON: image facts, per-model latency, class shares and metrics."""
    h, w = a.original_size
    return {
        "image": {"width": w, "height": h, "sample": a.sample, "notes": [str(n) for n in a.notes], "cached": a.cached},
        "classes": list(CLASSES),
        "no_pet_found": a.no_pet(),
        "models": {
            name: {
                "title": m.title,
                "mask": mask_names[name],
                "latency_ms": round(m.ms, 1),
                "class_fractions": [round(c, 4) for c in m.class_fractions()],
                "metrics": m.metrics,
                "weights": sources.get(name),
            }
            for name, m in a.models.items()
        },
        "unavailable": a.unavailable,
    }


def probe_summary(p: Probe) -> dict:
    """The ``probe`` endpoint's JSON: the pixel, and per model its probabilities, winner, boxes,
    field size, the radius of the effective field and the timing; and the sentence."""
    h, w = p.size

    def box(b: tuple[int, int, int, int]) -> dict:
        return dict(zip(("top", "left", "bottom", "right"), (int(v) for v in b)))

    return {
        "pixel": {"x": p.x, "y": p.y},
        "image": {"width": w, "height": h},
        "work_size": {"width": p.work_size[1], "height": p.work_size[0], "x": p.work_xy[0], "y": p.work_xy[1]},
        "classes": list(CLASSES),
        "models": {
            name: {
                "title": m.title,
                "probabilities": [round(float(v), 4) for v in m.probs],
                "winner": CLASSES[m.winner],
                "theoretical_field_px": m.field_px,
                "box": box(m.box),
                "box_work": box(m.box_work),
                "radius_90_px": round(m.radius_px, 1),
                "radius_90_fraction": round(m.radius_frac, 4),
                "latency_ms": round(m.ms, 1),
                "precision": m.precision,
            }
            for name, m in p.models.items()
        },
        "sentence": p.sentence,
        "latency_ms": round(p.ms, 1),
    }
