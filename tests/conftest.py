"""Shared fixtures: small seeded CPU inputs, the dataset folder, the embedded checkpoints, the app
on 127.0.0.1 (``app_url``, ``serve_app``) and a fake Hugging Face Hub (``fake_hub``, see fakes.py).

A run writes nothing into the work tree: a file of it that changes while the tests run fails the
run, and screenshots are kept only with ``--screenshots DIR`` (python bench/screenshots.py).

The app and pipeline tests use ``app_checkpoints``: the real checkpoints/ folder when it holds all
four variants, otherwise throwaway ones (random weights, a fake history) written to a temp folder,
so they exercise the same code paths either way.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch
from appserver import free_port
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

# Two threads are all this machine (and CI) has; more would only oversubscribe. The suite runs in two
# pytest-xdist workers (pyproject's addopts): one thread each.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)

# Where the browser tests save their screenshots: a folder of the run's temp folder, gone after the
# run, unless --screenshots DIR names another (python bench/screenshots.py: docs/screenshots/).
SHOTS = Path(TEST_TMP) / "screenshots"
KEEP_SHOTS = False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="save the README's screenshots in DIR (default: none are kept; see bench/screenshots.py)")  # fmt: skip
    parser.addoption("--walks", choices=("one", "each", "all"), default="one",
                     help="the guided lesson's browser walks: one (a phone in Chinese, the default), each size and "
                          "each language once (three), or all nine")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    global SHOTS, KEEP_SHOTS
    if config.getoption("--screenshots"):
        SHOTS, KEEP_SHOTS = Path(config.getoption("--screenshots")).resolve(), True
    SHOTS.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------- nothing written into the tree

_TREE, _WRITTEN = pytest.StashKey[dict | None](), pytest.StashKey[list[str]]()


def tree_state(root: Path = REPO, exempt: Path | None = None) -> dict[str, tuple[int, int] | None] | None:
    """Every file of ``root``'s work tree that git reports changed or untracked (ignored files aside),
    with its size and modification time (None: deleted); None outside a git checkout. Files under
    ``exempt`` are left out."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "-z", "--untracked-files=all"], cwd=root,
                             capture_output=True, check=True, timeout=60).stdout.decode()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    state, entries = {}, iter(out.split("\0"))
    for entry in entries:
        if not entry:
            continue
        if entry[0] in "RC":  # a rename or copy: its old path follows
            next(entries, None)
        path = root / entry[3:]
        if exempt is not None and path.is_relative_to(exempt):
            continue
        try:
            st = path.stat()
            state[entry[3:]] = (st.st_size, st.st_mtime_ns)
        except OSError:
            state[entry[3:]] = None
    return state


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TREE] = tree_state(exempt=SHOTS)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A test run writes nothing into the work tree (screenshots come from their own command):
    any file that changed during the run fails it."""
    before = session.config.stash.get(_TREE, None)
    after = tree_state(exempt=SHOTS) if before is not None else None
    if after is None:
        return
    written = sorted(p for p in before.keys() | after.keys() if before.get(p, "new") != after.get(p, "new"))
    if written:
        session.config.stash[_WRITTEN] = written
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    written = config.stash.get(_WRITTEN, [])
    if written:
        terminalreporter.write_sep("=", "the test run wrote into the work tree", red=True)
        terminalreporter.write_line("Tests must write under tmp_path; these files changed while they ran (or were")
        terminalreporter.write_line("edited by someone else meanwhile): " + ", ".join(written))


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


def launch_app(loaded: dict):
    """The demo built around ``loaded`` (name -> LoadedModel), served in-process on 127.0.0.1 with the
    app's queue settings; returns (demo, url). The caller closes it with ``demo.close()``."""
    import app

    demo = app.build_demo(app.DemoState(loaded, "cpu"))
    demo.queue(default_concurrency_limit=2, max_size=app.QUEUE_SIZE)
    kwargs = {**app.launch_kwargs(), "server_name": "127.0.0.1", "server_port": free_port(), "quiet": True}
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


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, for the browser tests (tests/browser.py has their helpers)."""
    from browser import launch

    yield from launch()


@pytest.fixture(scope="module")
def page(browser, app_url):
    """The desk page (1440x900) a browser test module's tests share; each first makes sure it shows what it needs."""
    from browser import DESK, opened

    with opened(browser, app_url, DESK) as pg:
        yield pg
