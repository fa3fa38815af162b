"""`python app.py` in a process of its own on a free 127.0.0.1 port, as a visitor meets it: what the
tests (tests/conftest.py, tests/test_app.py) and the benchmarks (load.py, screenshots.py) share.

It lives in bench/ because it is tooling, not part of the app; the tests find it through
pyproject.toml's ``pythonpath``, the benchmarks because they run from this folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The embedded weights, no Hub, no analytics: a server that needs no network.
QUIET_ENV = {"FCN_DEMO_HUB": "0", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
# As on a ZeroGPU Space: the `spaces` package (here the stand-in of tests/zerogpu) and SPACES_ZERO_GPU=true.
ZEROGPU_ENV = {"PYTHONPATH": str(REPO / "tests" / "zerogpu"), "SPACES_ZERO_GPU": "true"}


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on now (the OS picks it), so two runs never collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(
    log: Path, env: dict[str, str | None] | None = None, timeout: float = 120
) -> tuple[subprocess.Popen, str]:
    """Start `python app.py` (its output to ``log``) with QUIET_ENV and ``env`` over this process's
    environment (a None value removes a variable); return (process, url) once its page answers 200.

    Raises RuntimeError with the log's tail if the server exits first, TimeoutError after ``timeout``
    seconds; either way no process is left running."""
    port = free_port()
    merged = {**os.environ, **QUIET_ENV, **(env or {}), "GRADIO_SERVER_NAME": "127.0.0.1",
              "GRADIO_SERVER_PORT": str(port)}  # fmt: skip
    with open(log, "wb") as out:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=REPO,
            env={k: v for k, v in merged.items() if v is not None},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    stop_app(proc)
    raise TimeoutError(f"app.py did not serve its page within {timeout:.0f} s; see {log}")


def stop_app(proc: subprocess.Popen) -> None:
    """Stop a server from :func:`start_app`: politely, then for good."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def running_app(log: Path, env: dict[str, str | None] | None = None, timeout: float = 120) -> Iterator[str]:
    """:func:`start_app` as a context: yields the URL, stops the server after."""
    proc, url = start_app(log, env, timeout)
    try:
        yield url
    finally:
        stop_app(proc)
