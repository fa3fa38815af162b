"""The command that precomputes the gallery samples' pixel probes (fcn_demo.request.probe_grid).

    python -m fcn_demo.request.precompute                 # every sample, cell 64 px: about 5 CPU-minutes a sample
    python -m fcn_demo.request.precompute --cell 32       # four times the cells, four times the time
    # split over two processes, then merge (each writes its file after every sample it finishes):
    python -m fcn_demo.request.precompute --threads 1 --samples Bengal_193,Bengal_27 --out /tmp/a.safetensors
    python -m fcn_demo.request.precompute --merge /tmp/a.safetensors /tmp/b.safetensors

It runs the app's own models from the embedded checkpoints (no Hub), as the page's probe does, and
records their weights' sha256 so the app uses the grid only with those very weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fcn_demo.core.hub import HubConfig, load_models
from fcn_demo.core.inputs import load_input
from fcn_demo.core.runtime import pick_device
from fcn_demo.core.samples import list_samples
from fcn_demo.request.analysis import Analyzer
from fcn_demo.request.probe_grid import CELL, GRID_PATH, ProbeGrid, build, weights_digest


def merged(paths: list[Path]) -> tuple[ProbeGrid, dict[str, str]]:
    """One grid of the grids in ``paths`` (made with the same cell, weights and precision)."""
    grids = [ProbeGrid.read(p) for p in paths]
    first = grids[0]
    if any((g.cell, g.weights, g.precision) != (first.cell, first.weights, first.precision) for g in grids):
        raise SystemExit("these grids were made with different cells, weights or precisions")
    samples = {}
    for p in paths:
        samples |= read_samples(p)
    return ProbeGrid(
        first.cell, first.weights, first.precision, {k: v for g in grids for k, v in g.tensors.items()}
    ), samples


def read_samples(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return json.loads((f.metadata() or {}).get("samples", "{}"))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Precompute the gallery samples' pixel probes at a grid of cells.")
    p.add_argument("--cell", type=int, default=CELL, help="working pixels per cell (default %(default)s)")
    p.add_argument("--out", type=Path, default=GRID_PATH, help="where to write (default %(default)s)")
    p.add_argument("--samples", help="only these samples (comma-separated names; default all): split the work")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    p.add_argument("--merge", type=Path, nargs="+", help="instead: merge these grid files into --out")
    args = p.parse_args(argv)
    if args.merge:
        grid, samples = merged(args.merge)
        grid.write(args.out, samples)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {len(samples)} samples)")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device()
    loaded = {n: m for n, m in load_models(device=device, config=HubConfig(enabled=False)).items() if m.model}
    weights = {n: weights_digest(m.folder, n) for n, m in loaded.items()}
    if not all(weights.values()):
        raise SystemExit(f"no SHA256SUMS entry for the weights of {[n for n, d in weights.items() if not d]}")
    analyzer = Analyzer({n: m.model for n, m in loaded.items()}, device)
    by_name = {s.name: s for s in list_samples()}
    names = args.samples.split(",") if args.samples else list(by_name)
    if unknown := [n for n in names if n not in by_name]:
        raise SystemExit(f"no sample {unknown}; valid: {', '.join(by_name)}")
    tensors, samples = {}, {}
    for s in (by_name[n] for n in names):
        image = load_input(s.image)
        grid = build(analyzer, {image.digest: (s.name, image.rgb)}, weights, args.cell, lambda m: print(m, flush=True))
        tensors |= grid.tensors
        samples[image.digest] = s.name
        # Written after every sample: a long run that stops keeps what it finished.
        ProbeGrid(args.cell, weights, grid.precision, tensors).write(args.out, samples)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {len(samples)} samples)")


if __name__ == "__main__":
    main()
