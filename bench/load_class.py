"""bench/load.py's phase 5: a class of students at the page at once, each clicking a sample and
then a pixel through the page's own requests (Gradio's queue protocol), and the table rows it gives."""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from dataclasses import dataclass

import httpx
from common import pct
from PIL import Image

from fcn_demo.core.samples import list_samples

CLASS_SIZE = 60
CLASS_NOTE = (
    "The class runs against a second server, as on a ZeroGPU Space: every model step a forked GPU call, and "
    "the students' requests are the page's own (a sample click is recorded, then segmented; a pixel click "
    "runs the probe). Samples are shared, so of the class's sample clicks only the first of each of the 12 "
    "samples runs the models; every pixel click does. Their answers queue behind two model steps at a "
    "time, and while they wait the page shows each student their place in the queue. Here each model step "
    "takes seconds on the two CPU cores that a GPU does in a fraction of one: the ratios show how the queue "
    "shares the work, not how long a class waits on a ZeroGPU Space."
)


@dataclass
class Click:
    kind: str  # "sample" | "pixel"
    seconds: float  # from the click to the answer
    error: str | None = None
    # The furthest back the queue told this student they were (0: first; -1: told nothing). The page
    # shows it as "queue: rank+1/size".
    rank: int = -1


class Student:
    """One visitor at the page: the requests their browser makes, in a session of their own, with
    their own ZeroGPU identity (the X-IP-Token header the Space's proxy adds)."""

    def __init__(self, url: str, config: dict, name: str, timeout: float) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout, headers={"X-IP-Token": name})
        self.session = uuid.uuid4().hex[:12]
        self.config = config
        self.ids = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}

    def _event(self, api_name: str, data: list, event_data=None) -> tuple[str | None, int]:
        """One queued event, as the page sends it: (its error or None, the furthest place in the queue told)."""
        body = {"data": data, "fn_index": self.ids[api_name], "session_hash": self.session,
                "event_data": event_data, "trigger_id": None}  # fmt: skip
        joined = self.http.post("/gradio_api/queue/join", json=body)
        if joined.status_code != 200:
            return f"HTTP {joined.status_code}: {joined.text[:120]}", -1
        told = -1
        with self.http.stream("GET", f"/gradio_api/queue/data?session_hash={self.session}") as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("msg") == "estimation" and msg.get("rank") is not None:
                    told = max(told, msg["rank"])
                if msg.get("msg") == "process_completed":
                    out = msg.get("output") or {}
                    return (None if msg.get("success") else str(out.get("error"))), told
        return "the event stream ended without an answer", told

    def _defaults(self, api_name: str) -> list:
        comps = {c["id"]: c for c in self.config["components"]}
        dep = next(d for d in self.config["dependencies"] if d.get("api_name") == api_name)
        return [comps[i]["props"].get("value") for i in dep["inputs"]]

    def click_sample(self, index: int) -> Click:
        """A click on sample ``index`` in the gallery: the page records it (unqueued), then segments it."""
        t0 = time.perf_counter()
        body = {"data": [], "fn_index": self.ids["choose"], "session_hash": self.session, "trigger_id": None,
                "event_data": {"index": index, "value": None, "selected": True}}  # fmt: skip
        r = self.http.post("/gradio_api/run/predict", json=body)
        if r.status_code != 200:
            return Click("sample", time.perf_counter() - t0, f"HTTP {r.status_code}: {r.text[:120]}")
        error, told = self._event("pick", self._defaults("pick"))
        return Click("sample", time.perf_counter() - t0, error, told)

    def click_pixel(self, x: int, y: int) -> Click:
        """A click on pixel (x, y) of the photo in Ask a pixel."""
        t0 = time.perf_counter()
        error, told = self._event("probe_click", [None, None], {"index": [x, y], "value": None})
        return Click("pixel", time.perf_counter() - t0, error, told)

    def close(self) -> None:
        self.http.close()


def sample_centre(index: int) -> tuple[int, int]:
    """The middle pixel of sample ``index`` (the samples are shown at their own size)."""
    with Image.open(list_samples()[index].image) as im:
        return im.width // 2, im.height // 2


def one_student(url: str, config: dict, name: str, index: int, timeout: float, start=None) -> list[Click]:
    """A student who clicks sample ``index`` and then its middle pixel (after ``start``, a barrier)."""
    s = Student(url, config, name, timeout)
    try:
        if start is not None:
            start.wait()
        clicks = [s.click_sample(index)]
        if clicks[0].error is None:
            clicks.append(s.click_pixel(*sample_centre(index)))
        return clicks
    finally:
        s.close()


def a_class(url: str, size: int, timeout: float) -> tuple[list[Click], list[Click], list[Click]]:
    """(one student alone, three times; ``size`` students at once; one more student after them)."""
    config = httpx.get(f"{url}config", timeout=30).json()
    n = len(list_samples())
    alone = []
    for k in range(3):  # samples nobody has clicked yet: their models run, as for the class's first clicks
        alone += one_student(url, config, f"alone-{k}", n - 1 - k, timeout)
    start = threading.Barrier(size)
    clicks: list[Click] = []
    lock = threading.Lock()

    def student(i: int) -> None:
        out = one_student(url, config, f"student-{i}", i % n, timeout, start)
        with lock:
            clicks.extend(out)

    threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * timeout)
    after = one_student(url, config, "latecomer", 3, timeout)
    return alone, clicks, after


def class_rows(size: int, alone: list[Click], clicks: list[Click], after: list[Click]) -> list[str]:
    """The class's rows of the load table."""
    base = {k: statistics.median([c.seconds for c in alone if c.kind == k and c.error is None] or [float("nan")])
            for k in ("sample", "pixel")}  # fmt: skip
    rows = [
        f"| A class of {size} at once, as on ZeroGPU (the stand-in `spaces`): each clicks a sample, then a pixel "
        f"| baseline: one student alone, {sum(c.kind == 'sample' for c in alone)} times: sample click "
        f"{base['sample']:.1f} s, pixel click {base['pixel']:.1f} s to the answer (= 1.00) |"
    ]
    for kind, what in (("sample", "Sample click"), ("pixel", "Pixel click")):
        done = [c for c in clicks if c.kind == kind]
        ok = [c.seconds for c in done if c.error is None]
        refused = [c for c in done if c.error and "queue is full" in c.error.lower()]
        other = [c for c in done if c.error and c not in refused]
        waited = [c.rank for c in done if c.rank >= 1]
        untold = sum(c.rank < 0 for c in done)
        ratio = f"p50 {statistics.median(ok) / base[kind]:.2f}, p95 {pct(ok, 95) / base[kind]:.2f}" if ok else "n/a"
        rows.append(
            f"| {what} to its answer, in the class, over the student alone | **{ratio}** ({len(ok)} of {size} "
            f"answered, {len(refused)} refused as queue full, {len(other)} other errors"
            + (f": {other[0].error[:80]}" if other else "")
            + f"; {len(waited)} waited behind others and were told their place in the queue, with up to "
            f"{max(waited, default=0)} ahead; {untold} told nothing) |"
        )
    late = [c for c in after if c.kind == "sample"]
    if late and late[0].error is None:
        rows.append(f"| One more student's sample click after the class (cached), over the student alone | "
                    f"{late[0].seconds / base['sample']:.2f} |")  # fmt: skip
    else:
        rows.append(f"| One more student's sample click after the class | {late[0].error if late else 'not run'} |")
    return rows
