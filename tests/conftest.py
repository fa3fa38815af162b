"""Shared fixtures: small seeded CPU inputs, the dataset folder, the embedded checkpoints, the app
on 127.0.0.1 (``app_url``, ``serve_app``) and a fake Hugging Face Hub (``fake_hub``, see fakes.py).

The app and pipeline tests use ``app_checkpoints``: the real checkpoints/ folder when it holds all
four variants, otherwise throwaway ones (random weights, a fake history) written to a temp folder,
so they exercise the same code paths either way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fakes import REPO_ID, FakeHub, start_server, write_checkpoints

from fcn_demo.core.data import default_root
from fcn_demo.models import VARIANTS
from fcn_demo.training import publish

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO / "checkpoints"

# A run leaves nothing in the system temp folder: Gradio caches uploads there and gradio_client
# makes an empty folder there for every file it downloads. Set before gradio is imported (it reads
# GRADIO_TEMP_DIR once); TMPDIR carries it to the app servers the tests start as subprocesses.
TEST_TMP = tempfile.mkdtemp(prefix="fcn-demo-tests-")
os.environ["GRADIO_TEMP_DIR"] = os.environ["TMPDIR"] = tempfile.tempdir = TEST_TMP
atexit.register(shutil.rmtree, TEST_TMP, ignore_errors=True)

# Two threads are all this machine (and CI) has; more would only oversubscribe.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = default_root()
    if not (root / "annotations" / "trainval.txt").exists():
        pytest.skip(f"Oxford-IIIT Pet not found at {root} (set FCN_DEMO_DATA)")
    return root


@pytest.fixture(scope="session")
def checkpoints() -> Path:
    if not (CHECKPOINTS / "metrics.json").exists():
        pytest.skip("no trained checkpoints in checkpoints/ (run python -m fcn_demo.training.train and .evaluate)")
    return CHECKPOINTS


def real_checkpoints_complete(root: Path = CHECKPOINTS) -> bool:
    """Whether ``root`` holds a loadable checkpoint for every registered variant."""
    return all((root / n / f).exists() for n in VARIANTS for f in ("config.json", "model.safetensors", "history.json"))


@pytest.fixture(scope="session")
def app_checkpoints() -> Path:
    """The embedded checkpoints the app serves (all four variants)."""
    if not real_checkpoints_complete():
        pytest.skip("checkpoints/ lacks a variant (run python -m fcn_demo.training.train and .evaluate)")
    return CHECKPOINTS


@pytest.fixture(scope="session")
def loaded_models(app_checkpoints):
    """Every variant loaded on the CPU as LoadedModel records."""
    from fcn_demo.core.hub import HubConfig, load_models

    models = load_models(device="cpu", config=HubConfig(enabled=False), embedded_dir=app_checkpoints)
    bad = {n: m.error for n, m in models.items() if m.model is None}
    assert not bad, f"checkpoints failed to load: {bad}"
    return models


@pytest.fixture(scope="session")
def analyzer(loaded_models):
    """The request layer's model step over every loaded variant, on the CPU."""
    from fcn_demo.request.analysis import Analyzer

    return Analyzer({n: m.model for n, m in loaded_models.items()}, "cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_process(log: Path, **env: str) -> Iterator[str]:
    """`python app.py` as a visitor meets it (its own process, the embedded weights, no Hub) on a free
    127.0.0.1 port, with ``env`` added to its environment; yields its URL, stops it after."""
    port = _free_port()
    env = {**os.environ, "FCN_DEMO_HUB": "0", "GRADIO_ANALYTICS_ENABLED": "False", **env,
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}  # fmt: skip
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            if proc.poll() is not None:
                pytest.fail(f"app.py exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def launch_app(loaded: dict):
    """The demo built around ``loaded`` (name -> LoadedModel), served in-process on 127.0.0.1 with the
    app's queue settings; returns (demo, url). The caller closes it with ``demo.close()``."""
    import app

    demo = app.build_demo(app.DemoState(loaded, "cpu"))
    demo.queue(default_concurrency_limit=2, max_size=app.QUEUE_SIZE)
    kwargs = {**app.launch_kwargs(), "server_name": "127.0.0.1", "server_port": _free_port(), "quiet": True}
    _, url, _ = demo.launch(prevent_thread_lock=True, **kwargs)
    return demo, url


@pytest.fixture(scope="session")
def app_url(loaded_models):
    """The demo launched once, in-process, on 127.0.0.1 with the test checkpoints; yields its URL."""
    demo, url = launch_app(loaded_models)
    yield url
    demo.close()


@pytest.fixture
def serve_app():
    """``serve_app(loaded) -> url``: a demo of its own for one test (e.g. around broken checkpoints)."""
    demos = []

    def serve(loaded: dict) -> str:
        demo, url = launch_app(loaded)
        demos.append(demo)
        return url

    yield serve
    for demo in demos:
        demo.close()


# ---------------------------------------------------------------------------- a fake Hugging Face Hub


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory) -> dict:
    """Two different sets of checkpoints: what is published on the (fake) Hub, and the embedded copy."""
    base = tmp_path_factory.mktemp("ckpts")
    hub_src, embedded, staged = base / "published", base / "embedded", base / "staged"
    out_hub = write_checkpoints(hub_src, seed=1)
    out_emb = write_checkpoints(embedded, seed=2)
    publish.stage(hub_src, staged, REPO_ID)  # the fake Hub serves exactly what `push` would upload
    return {"hub_src": hub_src, "embedded": embedded, "staged": staged, "out_hub": out_hub, "out_emb": out_emb}


@pytest.fixture
def fake_hub(ckpts):
    """The fake Hub (API + resolve) serving ``ckpts["staged"]``, and its CDN, each on its own 127.0.0.1 port."""
    state = FakeHub(ckpts["staged"])
    api, cdn = start_server(state), start_server(state)
    state.cdn_url = f"http://127.0.0.1:{cdn.server_address[1]}"
    state.url = f"http://127.0.0.1:{api.server_address[1]}"
    yield state
    for s in (api, cdn):
        s.shutdown()
        s.server_close()


@pytest.fixture
def hf_env(tmp_path, monkeypatch):
    """A private HF cache and no inherited Hub settings; HubConfig reads these when created."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                "FCN_DEMO_HUB", "FCN_DEMO_HUB_REPO", "FCN_DEMO_HUB_REVISION", "HF_HUB_ETAG_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("FCN_DEMO_HUB_REPO", REPO_ID)
    return tmp_path / "hf" / "hub"


@pytest.fixture
def use_endpoint(monkeypatch):
    def set_url(url: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", url)

    return set_url
