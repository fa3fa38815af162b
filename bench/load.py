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
Phases 1-4's requests are bench/load_requests.py, phase 5's class bench/load_class.py; this file runs
them, watches the server's memory and writes the table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from appserver import ZEROGPU_ENV, start_app, stop_app
from common import REPO, OtherLoad, pct, warn_if_busy
from load_class import CLASS_NOTE, CLASS_SIZE, a_class, class_rows
from load_requests import SAMPLE_EVERY, Requests, burst, client, closed_loop, make_uploads, one

from fcn_demo.page.handlers import QUEUE_SIZE
from fcn_demo.training.evaluate import update_readme


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
