"""Load, measured: `python app.py` on 127.0.0.1 driven by concurrent gradio_client clients.

    python bench/load.py                                  # 3 rounds of 20 clients x 10 requests, a class (~20 min, 2 cores)
    python bench/load.py --clients 4 --requests 3 --rounds 2 --class-size 8   # a quick check (~4 minutes)
    python bench/load.py --class-only                     # only phase 5, the class
    python bench/load.py --update-readme                  # also rewrite README.md's load block

The server is the real entry point (`python app.py`: its queue settings, the embedded weights,
FCN_DEMO_HUB=0) in a subprocess, so its memory is measured alone. One run, four phases:

1. warm-up: a few requests, not counted;
2. one client, ``--requests`` requests one after another: the baseline latency;
3. ``--rounds`` rounds of ``--clients`` clients at once, ``--requests`` each, back to back (a closed
   loop), each round followed by ``--settle`` idle seconds and an at-rest RSS reading: requests
   served, errors, and p50/p95 latency as multiples of the baseline p50;
4. a burst of ``--burst`` requests submitted at once, beyond the queue's ``max_size``: the ones
   that do not fit must be refused at once with a "queue is full" message, not left hanging;
5. a class: a second server, as on a ZeroGPU Space (SPACES_ZERO_GPU=true, the stand-in ``spaces`` of
   tests/zerogpu: every model step a forked GPU call charged to its visitor), and ``--class-size``
   students who each click a sample and then a pixel of it, all at the same moment, through the
   page's own requests (Gradio's queue protocol, each student a session and a visitor of their
   own). First one student alone does the same, three times: the baseline. Reported: answers and
   refusals, p50/p95 time to answer each click over the student alone, how many students were told
   their place in the queue while they waited, and one more student's sample click after the class.

Requests mix gallery samples (their results are cached after the first time, as in the app) and
uploads: unique photos (random crops, flips, sizes and JPEG/PNG of the samples) that always run
the four models. The server's RSS is sampled from /proc/<pid>/status throughout. The server hands
freed memory back to the OS every 30 s, so under load RSS is a sawtooth whose slope says little:
growth is read at rest, ``--settle`` seconds without traffic after phase 2 and after every round.
The first round fills the server's caches (the last 24 analyses, the mask files of 32 images, oneDNN's kernels
for the few working sizes the uploads map to), so the trend after warm-up is the change in at-rest
RSS from the first round to the last.
Every wait is bounded (``--request-timeout``, ``--time-limit``); the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from appserver import ZEROGPU_ENV, start_app, stop_app
from common import REPO, OtherLoad, warn_if_busy
from gradio_client import Client, handle_file
from PIL import Image

from fcn_demo.core.samples import list_samples
from fcn_demo.page.handlers import QUEUE_SIZE
from fcn_demo.training.evaluate import update_readme

SAMPLE_EVERY = 3  # one request in three is a gallery sample, the others are unique uploads
CLASS_SIZE = 60


@dataclass
class Outcome:
    kind: str  # "sample" | "upload" | "burst"
    seconds: float
    error: str | None = None
    models: int = 0  # masks in the answer


@dataclass
class Rss:
    """The server's resident memory over time, from /proc/<pid>/status."""

    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time.perf_counter(), MiB)
    stop: threading.Event = field(default_factory=threading.Event)

    def read(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def run(self, every: float = 0.5) -> None:
        while not self.stop.wait(every):
            mib = self.read()
            if mib is not None:
                self.samples.append((time.perf_counter(), mib))

    def between(self, t0: float, t1: float) -> list[tuple[float, float]]:
        return [(t, m) for t, m in self.samples if t0 <= t <= t1]


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between order statistics."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ---------------------------------------------------------------------------- the server


def start_server(log_path: Path, timeout: float, sessions: int | None = None, extra: dict | None = None):
    """`python app.py` with the embedded weights (appserver.start_app); returns (process, url) once it
    serves its page. ``sessions``: Gradio's session cap (app.py's FCN_DEMO_SESSIONS), None for the
    app's default; ``extra``: more environment (ZEROGPU_ENV)."""
    # TMPDIR: uploads, Gradio's cache, exported masks, all removed with the log's folder.
    env = {"TMPDIR": str(log_path.parent), **(extra or {})}
    if sessions is not None:
        env["FCN_DEMO_SESSIONS"] = str(sessions)
    return start_app(log_path, env, timeout)


# ---------------------------------------------------------------------------- the requests


def make_uploads(n: int, folder: Path, seed: int) -> list[Path]:
    """``n`` distinct photos made from the samples (crop, flip, resize, JPEG or PNG): no two share a
    cache entry, so every upload runs all four models, as a new visitor's photo would."""
    rng = random.Random(seed)
    samples = [s.image for s in list_samples()]
    paths = []
    for i in range(n):
        with Image.open(rng.choice(samples)) as im:
            im = im.convert("RGB")
            w, h = im.size
            cw, ch = int(w * rng.uniform(0.7, 0.95)), int(h * rng.uniform(0.7, 0.95))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            im = im.crop((x, y, x + cw, y + ch))
            if rng.random() < 0.5:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            scale = rng.uniform(0.8, 2.0)  # some bigger than the display size, like phone photos
            im = im.resize((max(64, int(cw * scale)), max(64, int(ch * scale))), Image.BILINEAR)
            path = folder / f"upload_{i:04d}.{'jpg' if i % 4 else 'png'}"
            im.save(path, quality=rng.randint(70, 95)) if path.suffix == ".jpg" else im.save(path)
        paths.append(path)
    return paths


class Requests:
    """Hands out the next input: every SAMPLE_EVERY-th a gallery sample, else a fresh upload."""

    def __init__(self, uploads: list[Path]) -> None:
        self.samples = [s.image for s in list_samples()]
        self.uploads = iter(uploads)
        self.count = 0
        self.lock = threading.Lock()

    def next(self) -> tuple[str, Path]:
        with self.lock:
            self.count += 1
            if self.count % SAMPLE_EVERY == 1:
                return "sample", self.samples[self.count % len(self.samples)]
            return "upload", next(self.uploads)


def client(url: str, downloads: Path, workers: int = 4) -> Client:
    return Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False, max_workers=workers)


def one(c: Client, kind: str, path: Path, timeout: float) -> Outcome:
    t0 = time.perf_counter()
    job = c.submit(handle_file(str(path)), api_name="/segment")
    try:
        masks, summary = job.result(timeout=timeout)
        if len(masks) != len(summary["models"]) or not masks:
            return Outcome(kind, time.perf_counter() - t0, f"unexpected answer: {len(masks)} masks")
        return Outcome(kind, time.perf_counter() - t0, models=len(masks))
    except Exception as e:  # any failure is counted and reported, not raised: the run goes on
        job.cancel()
        return Outcome(kind, time.perf_counter() - t0, f"{type(e).__name__}: {str(e)[:200]}")


def closed_loop(url, downloads, reqs: Requests, n_clients, n_requests, timeout, deadline) -> list[Outcome]:
    """``n_clients`` clients, each sending ``n_requests`` one after the other, all starting together."""
    clients = [client(url, downloads) for _ in range(n_clients)]
    start = threading.Barrier(n_clients)
    results: list[Outcome] = []
    lock = threading.Lock()

    def worker(c: Client) -> None:
        start.wait()
        try:
            for _ in range(n_requests):
                if time.perf_counter() > deadline:
                    break
                out = one(c, *reqs.next(), timeout)
                with lock:
                    results.append(out)
        finally:
            c.close()  # the student leaves: the server sees the session end (heartbeat), as with a closed tab

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.perf_counter() + timeout))
    return results


def burst(url: str, downloads: Path, n: int, timeout: float) -> list[Outcome]:
    """``n`` requests submitted at the same moment (a cached sample, so the ones let in are quick)."""
    c = client(url, downloads, workers=n)
    sample = list_samples()[0].image
    start = threading.Barrier(n)
    results: list[Outcome] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        out = one(c, "burst", sample, timeout)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    c.close()
    return results


# ---------------------------------------------------------------------------- 5. a class


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


# ---------------------------------------------------------------------------- report


def report(args, single, loaded, wall, bursts, rss: Rss, phases: dict, klass: list[str]) -> str:
    ok_single = [o.seconds for o in single if o.error is None]
    ok = [o for o in loaded if o.error is None]
    errors = [o for o in loaded if o.error is not None]
    base = statistics.median(ok_single) if ok_single else float("nan")
    lat = [o.seconds for o in ok]
    by_kind = {k: [o.seconds for o in ok if o.kind == k] for k in ("upload", "sample")}
    throughput_single = len(ok_single) / phases["single_s"] if phases["single_s"] else float("nan")
    throughput_load = len(ok) / wall if wall else float("nan")

    during = [m for t0, t1 in phases["rounds"] for _, m in rss.between(t0, t1)]
    rss_peak = max(during, default=float("nan"))
    rest0 = phases["rest_before"] or float("nan")
    rests = [r or float("nan") for r in phases["rest_rounds"]]
    trend = (rests[-1] - rests[0]) / (len(rests) - 1) if len(rests) > 1 else float("nan")

    refused = [o for o in bursts if o.error and "queue is full" in o.error.lower()]
    served_burst = [o for o in bursts if o.error is None]
    other = [o for o in bursts if o.error and o not in refused]
    refused_msg = refused[0].error.split(": ", 1)[-1] if refused else "none"

    n_total = args.rounds * args.clients * args.requests
    flags = f"--clients {args.clients} --requests {args.requests} --rounds {args.rounds} --class-size {args.class_size}"
    sessions = "the app's session cap"
    if args.sessions is not None:
        flags += f" --sessions {args.sessions}"
        sessions = f"at most {args.sessions} sessions kept"
    lines = [
        f"`python bench/load.py {flags}` against `python app.py` (embedded weights, queue max_size {QUEUE_SIZE}, "
        f"{sessions}) on 127.0.0.1; {os.cpu_count()} CPU cores shared by "
        "server and clients (other processes used "
        f"{'?' if phases['others'] is None else format(phases['others'], '.0%')} of them); one request = "
        f"all {phases['models']} models on one image via the `/segment` API; one in {SAMPLE_EVERY} a gallery "
        "sample (cached after its first run), the others unique uploads.",
        "",
        "| Measure | Result |",
        "|---|---|",
        f"| Requests served under load | {len(ok)} / {n_total} ({args.rounds} rounds of {args.clients} clients x "
        f"{args.requests}, closed loop) |",
        f"| Errors | {len(errors)}" + (f" (first: {errors[0].error})" if errors else "") + " |",
        f"| Single-client p50 latency (the baseline) | 1.00 ({len(ok_single)} requests, same mix) |",
        f"| p50 latency under load / baseline p50 | {statistics.median(lat) / base:.2f} |" if lat else "| p50 | n/a |",
        f"| p95 latency under load / baseline p50 | {pct(lat, 95) / base:.2f} |" if lat else "| p95 | n/a |",
        f"| p50 of uploads / of samples under load, over baseline p50 | "
        f"{statistics.median(by_kind['upload']) / base:.2f} / {statistics.median(by_kind['sample']) / base:.2f} |"
        if by_kind["upload"] and by_kind["sample"]
        else "| by kind | n/a |",
        f"| Throughput under load / single-client throughput | {throughput_load / throughput_single:.2f} |",
        f"| Server RSS at rest: after warm-up / after each round | {rest0:.0f} / "
        + " / ".join(f"{r:.0f}" for r in rests)
        + f" MiB (peak under load {rss_peak:.0f} MiB) |",
        f"| Server RSS trend after warm-up (at rest, first round to last) | **{trend:+.0f} MiB per round** of "
        f"{args.clients * args.requests} requests ({trend / rests[0]:+.1%} of RSS) |",
        f"| Burst of {len(bursts)} requests at once (queue max_size {QUEUE_SIZE}) | {len(served_burst)} served "
        f"(the last after {max((o.seconds for o in served_burst), default=0):.1f} s), "
        + (
            f'{len(refused)} refused with "{refused_msg}" after {statistics.median(o.seconds for o in refused):.1f} s '
            f"(median; at most {max(o.seconds for o in refused):.1f} s, file upload included), "
            if refused
            else "none refused (the first were answered before the last arrived), "
        )
        + f"{len(other)} other outcomes |",
        *klass,
        "",
        f"Latency ratios are to the single-client p50 of the same run ({base * 1000:.0f} ms on this machine). "
        "Under load the requests queue (the models run at most two at a time), so latency grows with the "
        "number of clients while throughput holds. Each round's clients are new visitors whose sessions end "
        "with the round. The server gives large blocks their own pages, shares two malloc arenas between its "
        "threads and hands free heap pages back to the OS every 30 s "
        "(`fcn_demo.core.runtime.release_memory_periodically`), so under load its RSS is a sawtooth: the at-rest "
        f"readings ({args.settle:.0f} s without traffic) show what stays. The first round fills the caches (the "
        "last 24 analyses and the mask files of 32 images, and oneDNN's compiled kernels for each working size: photos are "
        "resized to a few shapes, multiples of 32); a leak would show as at-rest RSS climbing round after round. "
        f"{CLASS_NOTE} Generated by `python bench/load.py --update-readme`.",
    ]
    return "\n".join(lines)


CLASS_NOTE = (
    "The class runs against a second server, as on a ZeroGPU Space: every model step a forked GPU call, and "
    "the students' requests are the page's own (a sample click is recorded, then segmented; a pixel click "
    "runs the probe). Samples are shared, so of the class's sample clicks only the first of each of the 12 "
    "samples runs the models; every pixel click does. Their answers queue behind two model steps at a "
    "time, and while they wait the page shows each student their place in the queue. Here each model step "
    "takes seconds on the two CPU cores that a GPU does in a fraction of one: the ratios show how the queue "
    "shares the work, not how long a class waits on a ZeroGPU Space."
)


def class_phase(args, work: Path) -> list[str]:
    """Phase 5 on its own server, as on ZeroGPU: the class's rows of the table."""
    log = work / "server-zerogpu.log"
    print(f"5. a class of {args.class_size}: python app.py as on ZeroGPU (log: {log})", flush=True)
    proc, url = start_server(log, args.startup_timeout, None, ZEROGPU_ENV)
    print(f"   on {url}", flush=True)
    try:
        alone, clicks, after = a_class(f"{url}/", args.class_size, args.request_timeout)
    finally:
        stop_app(proc)
    rows = class_rows(args.class_size, alone, clicks, after)
    for row in rows:
        print(row, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=10, help="per client (and for the single-client baseline)")
    p.add_argument("--rounds", type=int, default=3, help="load rounds, each followed by an at-rest RSS reading")
    p.add_argument("--sessions", type=int, default=None,
                   help="sessions the server keeps (FCN_DEMO_SESSIONS; default: the app's cap). Below the clients "
                        "of one round, every round replaces the last one's sessions, so session state stops "
                        "counting as growth after round 1")  # fmt: skip
    p.add_argument("--burst", type=int, default=QUEUE_SIZE + 16, help="requests submitted at once in phase 4")
    p.add_argument("--class-size", type=int, default=CLASS_SIZE, help="students at once in phase 5 (0: none)")
    p.add_argument("--class-only", action="store_true", help="phase 5 alone (prints; leaves the README alone)")
    p.add_argument("--request-timeout", type=float, default=300.0, help="seconds before a request counts as hung")
    p.add_argument("--time-limit", type=float, default=1800.0, help="no new request after this many seconds")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--settle", type=float, default=35.0,
                   help="idle seconds before each at-rest RSS reading (the server trims its heap every 30 s)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--update-readme", action="store_true", help="write the table into README.md's load block")
    p.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = p.parse_args(argv)
    if args.class_only and args.update_readme:
        p.error("--update-readme writes the whole table: run every phase")

    warn_if_busy()
    others = OtherLoad()
    work = Path(tempfile.mkdtemp(prefix="fcn-demo-load-"))
    # gradio_client leaves an empty folder in the temp dir for every file it downloads: keep them in
    # `work`, which goes at the end, not in /tmp.
    tempfile.tempdir = str(work)
    if args.class_only:
        rows = class_phase(args, work)
        print("\n" + "\n".join(["| Measure | Result |", "|---|---|", *rows]))
        return 0
    n_uploads = (args.rounds * args.clients + 1) * args.requests + 8
    uploads = make_uploads(n_uploads, work, args.seed)
    deadline = time.perf_counter() + args.time_limit
    print(f"starting python app.py (log: {work / 'server.log'})", flush=True)
    proc, url = start_server(work / "server.log", args.startup_timeout, args.sessions)
    print(f"   on {url}", flush=True)
    url += "/"
    rss = Rss(proc.pid)
    sampler = threading.Thread(target=rss.run, daemon=True)
    sampler.start()
    try:
        reqs = Requests(uploads)
        c = client(url, work)
        print("1. warm-up", flush=True)
        warm = [one(c, *reqs.next(), args.request_timeout) for _ in range(3)]
        phases = {"models": max(o.models for o in warm)}
        print(f"2. one client, {args.requests} requests", flush=True)
        t0 = time.perf_counter()
        single = [one(c, *reqs.next(), args.request_timeout) for _ in range(args.requests)]
        t1 = time.perf_counter()
        phases["single"], phases["single_s"] = (t0, t1), t1 - t0
        c.close()
        time.sleep(args.settle)
        phases["rest_before"] = rss.read()
        loaded, phases["rounds"], phases["rest_rounds"] = [], [], []
        for r in range(args.rounds):
            print(f"3.{r + 1} {args.clients} clients x {args.requests} requests", flush=True)
            t0 = time.perf_counter()
            loaded += closed_loop(url, work, reqs, args.clients, args.requests, args.request_timeout, deadline)
            phases["rounds"].append((t0, time.perf_counter()))
            time.sleep(args.settle)
            phases["rest_rounds"].append(rss.read())
            print(f"   at rest: {phases['rest_rounds'][-1]:.0f} MiB", flush=True)
        print(f"4. burst of {args.burst}", flush=True)
        bursts = burst(url, work, args.burst, min(args.request_timeout, 120))
    finally:
        rss.stop.set()
        stop_app(proc)
    klass = class_phase(args, work) if args.class_size else []
    phases["others"] = others.share()  # after the servers were waited for: their CPU time counts as ours
    for o in warm + single:
        if o.error:
            print(f"warm-up/baseline error: {o.error}", file=sys.stderr)
    wall = sum(t1 - t0 for t0, t1 in phases["rounds"])
    table = report(args, single, loaded, wall, bursts, rss, phases, klass)
    print("\n" + table)
    if args.update_readme:
        update_readme(args.readme, table, "load")
        print(f"\nupdated {args.readme}")
    errors = sum(o.error is not None for o in warm + single + loaded)
    if errors:
        print(f"server log kept: {work / 'server.log'}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
