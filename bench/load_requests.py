"""bench/load.py's phases 1-4: the requests of gradio_client clients (gallery samples and unique
uploads), one after another, in closed loops of many clients, and in a burst beyond the queue."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gradio_client import Client, handle_file
from PIL import Image

from fcn_demo.core.samples import list_samples

SAMPLE_EVERY = 3  # one request in three is a gallery sample, the others are unique uploads


@dataclass
class Outcome:
    kind: str  # "sample" | "upload" | "burst"
    seconds: float
    error: str | None = None
    models: int = 0  # masks in the answer


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
