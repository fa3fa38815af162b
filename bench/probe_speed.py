"""How long a visitor waits for "Ask a pixel" on a gallery sample: cold, warm and precomputed, side by side.

    python bench/probe_speed.py              # ~2 minutes on 2 CPU cores
    python bench/probe_speed.py --repeat 5

One process, one run, the app's own handler (``DemoState.probe_at``: the probe and every picture of
its answer, the field what-if included) on sample Bengal_193:

- cold: the first live probe of the process (the models' first backward passes set up their kernels);
- warm: live probes at other pixels, once the process has run a few;
- precomputed: the same handler answering from the committed grid (fcn_demo.request.probe_grid),
  the path every gallery sample takes; and the grid's look-up alone, without drawing.

Each is reported against the 2 s target and against the warm live probe measured here, in this run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import OtherLoad, warn_if_busy  # (also puts the repo on sys.path)

from fcn_demo.core.hub import HubConfig, load_models
from fcn_demo.core.runtime import pick_device
from fcn_demo.core.samples import list_samples
from fcn_demo.page import linked, reach
from fcn_demo.page.handlers import DemoState

TARGET_S = 2.0
SAMPLE = "Bengal_193"
# Where the probes land, as fractions of the photo (each live one at a new pixel: nothing is reused).
PIXELS = [(0.3, 0.6), (0.7, 0.3), (0.5, 0.5), (0.2, 0.2), (0.8, 0.8), (0.4, 0.7), (0.6, 0.4)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="warm live probes and precomputed rounds (default 3)")
    args = p.parse_args()
    warn_if_busy()
    other = OtherLoad()
    device = pick_device()
    st = DemoState(load_models(device=device, config=HubConfig(enabled=False)), device)
    sample = next(s for s in list_samples() if s.name == SAMPLE)
    a = st.requests.analyze(str(sample.image))
    if not st.requests.precomputed(a.digest):
        raise SystemExit("no precomputed probes for the samples here: python -m fcn_demo.request.precompute")
    grid, st.requests.grid = st.requests.grid, None  # live first: the request layer without its grid

    def ask(at: tuple[float, float]) -> float:
        t = time.perf_counter()
        _, asked = st.probe_at(a, f"{at[0]},{at[1]}")
        st.reach(a, asked, reach.DEFAULT)
        return time.perf_counter() - t

    times = {"cold": [ask(PIXELS[0])]}
    times["warm"] = [ask(at) for at in PIXELS[1 : 1 + args.repeat]]
    st.requests.grid = grid
    times["precomputed"] = [ask(at) for at in PIXELS[: args.repeat * 2]]
    lookups = []
    for at in PIXELS:
        t = time.perf_counter()
        grid.probe(a.digest, a.rgb, *linked.pixel(f"{at[0]},{at[1]}", a.size), st.requests.weights)
        lookups.append(time.perf_counter() - t)
    times["grid look-up alone"] = lookups

    warm = statistics.median(times["warm"])
    print(f"\n## Ask a pixel on {SAMPLE} ({len(st.analyzer.models)} models, {device}), one run\n")
    print("| Probe | Median s | Runs | vs the 2 s target | vs a warm live probe |")
    print("|---|---|---|---|---|")
    for k, v in times.items():
        m = statistics.median(v)
        print(
            f"| {k} | {m:.3f} | {len(v)} | {m / TARGET_S:.2f}x {'ok' if m < TARGET_S else 'over'} | {m / warm:.3f}x |"
        )
    share = other.share()
    if share is not None:
        print(f"\nOther processes used {share:.0%} of the machine's CPU time during the run.")


if __name__ == "__main__":
    main()
