"""The gallery samples' pixel probes, computed ahead at a grid of cells, so a click on a sample answers at once.

A live probe runs every model forward and backward (:mod:`fcn_demo.request.probe`): 7 to 20 s on two
busy CPU cores. The samples never change, so their answers are computed once, offline, by the
committed command below, at the centre of every ``cell`` x ``cell`` cell of the working image, with
the very :func:`~fcn_demo.request.probe.probe` the page runs. A click on a sample is snapped to its
cell and answered from the file in milliseconds, in the server process (no model runs: on ZeroGPU
no GPU call either); the page says so and marks the pixel that was probed.

    python -m fcn_demo.request.precompute            # the command (fcn_demo/request/precompute.py)

The file is small: per sample, model and cell the class probabilities, the theoretical box, the
effective field's radius (exact) and its heat map at a quarter of the working size (uint8; the page
scales it up to the photo). It records the weights it was computed with (their sha256, from the
checkpoints' SHA256SUMS): for models loaded with other weights (another Hub revision) the grid is
not used and the probe runs live.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fcn_demo.core.data import REPO_ROOT
from fcn_demo.core.manifest import MANIFEST_NAME, read_manifest
from fcn_demo.models import get_variant
from fcn_demo.request.probe import (
    ModelProbe,
    Probe,
    _grad_dtype,
    box_to_display,
    forward,
    heat_map,
    probe_model,
    sentence,
    to_work,
)

GRID_PATH = REPO_ROOT / "samples" / "probe_grid.safetensors"  # beside the samples it answers for
CELL = 64  # working pixels per grid cell: 4x6 cells on a 256x352 working image
HEAT_SCALE = 4  # the heat maps are kept at 1/HEAT_SCALE of the working size (the heat is blurred anyway)


def weights_digest(folder: Path | None, name: str) -> str | None:
    """A short fingerprint of variant ``name``'s weights and config, from the SHA256SUMS beside its
    ``folder`` (the app verified the files against it when loading); None when there is none."""
    if folder is None or not (Path(folder).parent / MANIFEST_NAME).is_file():
        return None
    sums = read_manifest(Path(folder).parent / MANIFEST_NAME)
    parts = [sums.get(f"{name}/{f}") for f in ("model.safetensors", "config.json")]
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:16] if all(parts) else None


def centres(n: int, cell: int = CELL) -> list[int]:
    """The centre of every cell along an axis of ``n`` working pixels (the last cell may be partial)."""
    return [(c * cell + min(n, (c + 1) * cell) - 1) // 2 for c in range(math.ceil(n / cell))]


def display_of(w: int, n: int, size: int) -> int:
    """The display pixel (axis of ``size``) whose centre falls in working pixel ``w`` (axis of ``n``), or nearest."""
    return min(size - 1, max(0, ((2 * w + 1) * size) // (2 * n)))


def grid_pixels(size: tuple[int, int], work_size: tuple[int, int], cell: int = CELL) -> tuple[list[int], list[int]]:
    """The display pixels (xs, ys) probed for the grid of an image of display ``size`` (h, w)."""
    (h, w), (hw, ww) = size, work_size
    return [display_of(c, ww, w) for c in centres(ww, cell)], [display_of(c, hw, h) for c in centres(hw, cell)]


@dataclass
class ProbeGrid:
    """The precomputed probes: image digest -> model -> arrays (see :func:`build`), and what made them."""

    cell: int
    weights: dict[str, str]  # model -> weights_digest it was computed with
    precision: str
    tensors: dict[str, np.ndarray]  # "<digest>/{xs,ys,work}", "<digest>/<model>/{probs,box,radius,heat,field}"

    @classmethod
    def read(cls, path: Path = GRID_PATH) -> ProbeGrid | None:
        """The grid in ``path`` (a fixed file of the app, never a name from a request), or None."""
        if not Path(path).is_file():
            return None
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
        return cls(int(meta["cell"]), json.loads(meta["weights"]), meta["precision"], tensors)

    def write(self, path: Path = GRID_PATH, samples: dict[str, str] | None = None) -> None:
        from safetensors.numpy import save_file

        meta = {"cell": str(self.cell), "weights": json.dumps(self.weights), "precision": self.precision,
                "samples": json.dumps(samples or {}), "command": "python -m fcn_demo.request.precompute"}  # fmt: skip
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file({k: np.ascontiguousarray(v) for k, v in sorted(self.tensors.items())}, str(path), metadata=meta)

    def covers(self, digest: str, weights: dict[str, str | None]) -> bool:
        """Whether every model of ``weights`` (model -> its weights_digest) has its answers for image
        ``digest`` here, computed with those very weights."""
        return (
            bool(weights)
            and f"{digest}/xs" in self.tensors
            and all(
                d is not None and self.weights.get(n) == d and f"{digest}/{n}/probs" in self.tensors
                for n, d in weights.items()
            )
        )

    def probe(self, digest: str, rgb: np.ndarray, x: int, y: int, weights: dict[str, str | None]) -> Probe | None:
        """The answer of the cell holding display pixel (x, y) of image ``digest`` (``rgb``: its
        display-size pixels), for the models of ``weights`` in that order; None when not covered."""
        if not self.covers(digest, weights):
            return None
        t0 = time.perf_counter()
        xs, ys = self.tensors[f"{digest}/xs"], self.tensors[f"{digest}/ys"]
        h, w = rgb.shape[:2]
        work_size = tuple(int(v) for v in self.tensors[f"{digest}/work"])
        if not (0 <= x < w and 0 <= y < h):
            return None
        wx, wy = to_work(x, y, (h, w), work_size)
        i, j = min(wy // self.cell, len(ys) - 1), min(wx // self.cell, len(xs) - 1)
        px, py = int(xs[j]), int(ys[i])
        answers = {n: self._answer(digest, n, i, j, px, py, (h, w), work_size) for n in weights}
        return Probe(x=px, y=py, size=(h, w), work_size=work_size, work_xy=to_work(px, py, (h, w), work_size),
                     models=answers, sentence=sentence(px, py, work_size, answers),
                     ms=(time.perf_counter() - t0) * 1000, precomputed=True)  # fmt: skip

    def _answer(self, digest, name, i, j, px, py, size, work_size) -> ModelProbe:
        t = {k: self.tensors[f"{digest}/{name}/{k}"] for k in ("probs", "box", "radius", "heat", "field")}
        probs = t["probs"][i, j].astype(np.float32)
        box_work = tuple(int(v) for v in t["box"][i, j])
        heat = np.asarray(Image.fromarray(t["heat"][i, j]).resize(size[::-1], Image.BILINEAR))
        radius = float(t["radius"][i, j])
        return ModelProbe(name=name, title=get_variant(name).title, probs=probs, winner=int(np.argmax(probs)),
                          field_px=int(t["field"].reshape(-1)[0]), box_work=box_work, box=box_to_display(box_work, work_size, size),
                          grad=None, heat=heat, radius_px=radius, radius_frac=radius / min(work_size), ms=0.0,
                          precision=self.precision)  # fmt: skip


def sample_entries(m: ModelProbe, work_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """What the grid keeps of one model's answer at one cell (``work_size``: the image's (H, W))."""
    hw, ww = work_size
    # The heat as the page draws it, at the working size, then averaged over HEAT_SCALE x HEAT_SCALE blocks.
    heat = heat_map(m.grad, (hw, ww)).astype(np.float32)
    small = (
        heat.reshape(hw // HEAT_SCALE, HEAT_SCALE, ww // HEAT_SCALE, HEAT_SCALE).mean((1, 3)).round().astype(np.uint8)
    )
    return {"probs": m.probs.astype(np.float32), "box": np.array(m.box_work, np.int32),
            "radius": np.float32(m.radius_px), "heat": small, "field": np.int32(m.field_px)}  # fmt: skip


def build(analyzer, images: dict[str, tuple[str, np.ndarray]], weights: dict[str, str], cell: int = CELL,
          progress=print) -> ProbeGrid:  # fmt: skip
    """Probe every cell of every image (digest -> (name, display rgb)) with ``analyzer``'s models, as
    :meth:`fcn_demo.request.analysis.Analyzer.probe` does, one forward pass per model and image
    (its graph kept for every cell's gradient: the same numbers, in about half the time)."""
    tensors: dict[str, np.ndarray] = {}
    dtype = _grad_dtype(analyzer.dtype)
    for digest, (label, rgb) in images.items():
        t0 = time.perf_counter()
        size = rgb.shape[:2]
        x = analyzer.work_tensor(rgb)
        work_size = tuple(x.shape[-2:])
        xs, ys = grid_pixels(size, work_size, cell)
        tensors[f"{digest}/xs"], tensors[f"{digest}/ys"] = np.array(xs, np.int32), np.array(ys, np.int32)
        tensors[f"{digest}/work"] = np.array(work_size, np.int32)
        for n, model in analyzer.models.items():
            done = forward(model, x, dtype)
            cells = [
                sample_entries(
                    probe_model(n, model, x, *to_work(px, py, size, work_size), size, dtype, done), work_size
                )
                for py in ys
                for px in xs
            ]
            del done  # the graph: hundreds of MB
            for k in cells[0]:
                a = np.stack([c[k] for c in cells])
                tensors[f"{digest}/{n}/{k}"] = a[0] if k == "field" else a.reshape(len(ys), len(xs), *a.shape[1:])
        progress(f"{label}: {len(xs)}x{len(ys)} cells in {time.perf_counter() - t0:.0f} s")
    precision = "bf16" if dtype == torch.bfloat16 else "fp32"
    return ProbeGrid(cell, dict(weights), precision, tensors)
