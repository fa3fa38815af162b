"""What both benchmarks need: the repo on sys.path, and a check that the machine is otherwise idle."""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def cpu_busy(seconds: float = 2.0) -> float | None:
    """Share of all CPU time spent busy over ``seconds`` (from /proc/stat), None where unavailable."""

    def snapshot() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = snapshot()
        time.sleep(seconds)
        busy1, total1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def warn_if_busy(limit: float = 0.15) -> None:
    """Ratios are only comparable on an idle machine: say so when it is not (before we start)."""
    busy = cpu_busy()
    if busy is not None and busy > limit:
        print(f"warning: the CPUs are {busy:.0%} busy before the benchmark starts; the ratios will be skewed "
              "(see `top`)", file=sys.stderr, flush=True)  # fmt: skip
