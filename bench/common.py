"""What the benchmarks share: the repo on sys.path, a check that the machine is otherwise idle, and the
validation sets (never the test split) that the model-choosing scripts score on."""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def validation_sets() -> dict:
    """The sets models are chosen on, as train.py judges them (data.make_splits): "seen", the
    trainval carve-out and the extra set's carve-out of its three large breeds; "unseen", the
    out-of-distribution photos and the extra breeds held out whole. Never the test split."""
    from fcn_demo.core.data import Joined, PetSegmentation, default_root, extra_root, list_images, make_splits, ood_root

    root, extra = default_root(), extra_root()
    sp = make_splits(root, extra)
    seen = Joined([PetSegmentation(root, sp.val), PetSegmentation(extra, sp.val_extra)])
    unseen = Joined([PetSegmentation(ood_root(), list_images(ood_root())), PetSegmentation(extra, sp.unseen)])
    return {"seen": seen, "unseen": unseen}


def cpu_busy(seconds: float = 2.0) -> float | None:
    """Share of all CPU time spent busy over ``seconds`` (from /proc/stat), None where unavailable."""
    try:
        busy0, total0 = _busy_jiffies()
        time.sleep(seconds)
        busy1, total1 = _busy_jiffies()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def warn_if_busy(limit: float = 0.15) -> None:
    """Ratios are only comparable on an idle machine: say so when it is not (before we start)."""
    busy = cpu_busy()
    if busy is not None and busy > limit:
        print(f"warning: the CPUs are {busy:.0%} busy before the benchmark starts; the ratios will be skewed "
              "(see `top`)", file=sys.stderr, flush=True)  # fmt: skip


def _busy_jiffies() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)  # busy, total (idle and iowait are not busy)


def _own_jiffies() -> int:
    # utime + stime of this process and of its waited-for children (the server, once it is stopped)
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15])


class OtherLoad:
    """How much of the machine's CPU time processes other than this one (and its waited-for children)
    used between creation and :meth:`share`: a benchmark shares the machine with nobody, ideally."""

    def __init__(self) -> None:
        try:
            self.start = (*_busy_jiffies(), _own_jiffies())
        except (OSError, ValueError, IndexError):
            self.start = None

    def share(self) -> float | None:
        if self.start is None:
            return None
        busy, total, own = (*_busy_jiffies(), _own_jiffies())
        busy0, total0, own0 = self.start
        return max(0.0, (busy - busy0) - (own - own0)) / max(1, total - total0)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between order statistics."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
