"""The ZeroGPU contract, reproduced on the CPU with the stand-in ``spaces`` in tests/zerogpu/.

On a free Hugging Face Space the model step runs in a worker process forked for the call and
returns pickled data; the server process runs no model and never sees what the call changed.
``python app.py`` is started with the stand-in on its path, and every event of the page and the
``segment`` API is driven through gradio_client and the browser: each must work from the data the
one GPU call returned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import app_process

from fcn_demo.models import VARIANTS
from fcn_demo.samples import list_samples

STANDIN = Path(__file__).parent / "zerogpu"
# As on a ZeroGPU Space: the `spaces` package (here the stand-in) and SPACES_ZERO_GPU=true.
ZEROGPU_ENV = {"PYTHONPATH": str(STANDIN), "SPACES_ZERO_GPU": "true"}


def test_the_standin_keeps_the_contract():
    """The stand-in itself: a model in the server fails; inside GPU it runs, and its state stays there."""
    code = """
import torch, spaces
store = {}
@spaces.GPU
def step(n):
    store["seen"] = n  # dies with the worker
    return torch.nn.Linear(2, n)(torch.zeros(1, 2)).shape[1]
assert step(3) == 3 and store == {}, store
try:
    torch.nn.Linear(2, 2)(torch.zeros(1, 2))
except spaces.ModelInServerError:
    print("refused in the server")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **ZEROGPU_ENV}, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "refused in the server" in out.stdout


@pytest.fixture(scope="module")
def zerogpu_app(app_checkpoints, tmp_path_factory):
    """`python app.py` under the stand-in, on a free port; yields (url, log path)."""
    log = tmp_path_factory.mktemp("zerogpu") / "app.log"
    with app_process(log, **ZEROGPU_ENV) as url:
        yield url, log
    assert "ModelInServerError" not in log.read_text(), "a model ran in the server process"


def test_every_api_event_works_from_the_gpu_calls_data(zerogpu_app):
    from gradio_client import Client, handle_file

    url, log = zerogpu_app
    client = Client(url, verbose=False)
    sample = list_samples()[4]
    out = client.predict(handle_file(str(sample.image)), 0.55, "overlay", 1, "probability", True, True, True,
                         api_name="/segment_photo")  # fmt: skip
    status, panels = out[0], out[2 : 2 + len(VARIANTS)]
    assert f'data-image="{sample.name}"' in status
    assert all(f"mask of {sample.name}" in p for p in panels)
    # Every view after it reads the returned data, not a state left in the worker.
    panels = client.predict(0.3, "error map", api_name="/panels")
    assert all(f"error map of {sample.name}" in p for p in panels)
    maps = client.predict(2, "raw score", api_name="/maps")
    assert maps.count("<img") == len(VARIANTS) and "class border (raw score)" in maps
    ablated = client.predict(False, True, True, api_name="/ablate")
    assert "switched off: <b>pool4</b>" in ablated[0] and "switched off: <b>nothing</b>" in ablated[1]
    masks, summary = client.predict(handle_file(str(list_samples()[5].image)), api_name="/segment")
    assert len(masks) == len(VARIANTS) and summary["image"]["sample"] == list_samples()[5].name
    # The probe is a model step of its own (forward and backward): also a GPU call, also pickled back.
    probe = client.predict(handle_file(str(sample.image)), 100, 80, api_name="/probe")
    assert set(probe["models"]) == set(VARIANTS) and probe["sentence"]
    assert "ModelInServerError" not in log.read_text()


@pytest.mark.slow
def test_the_page_works_under_zerogpu(zerogpu_app):
    sync_api = pytest.importorskip("playwright.sync_api")
    from test_browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    url, log = zerogpu_app
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.locator("#samples img").nth(1).click()
        name = list_samples()[1].name
        page.wait_for_selector(f'#status [data-image="{name}"]')
        page.wait_for_selector(f'#panel-unet img[alt*="{name}"]')
        page.get_by_label("mask only").check()
        page.wait_for_selector('#panel-fcn8s img[alt*="class colours only"]')
        page.get_by_role("tab", name="Live skip ablation").click()
        page.get_by_label("FCN-16s: pool4 skip").uncheck()
        page.wait_for_function(
            "() => document.querySelector('#ablate-fcn16s').innerText.includes('switched off: pool4')"
        )
        page.get_by_role("tab", name="Ask a pixel").click()
        photo = page.locator("#probe-photo img").first
        photo.scroll_into_view_if_needed()
        box = photo.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#probe-out .panel img")
        page.get_by_role("tab", name="Skip-layer maps").click()
        page.get_by_label("border").check()
        page.wait_for_selector('#maps-out img[alt*="class border"]')
        # A shared link segments its sample on load: that model step is a GPU call too.
        linked = list_samples()[2].name
        page.goto(f"{url}/?sample={linked}&tab=ablation&off=fcn16s-pool4")
        page.wait_for_selector(f'#status [data-sample="{linked}"]')
        page.wait_for_function("() => document.querySelector('#ablate-fcn16s').innerText.includes('pool4')")
        errors = page.locator(".toast-body.error, .toast-wrap .error").count()
        browser.close()
    assert errors == 0
    assert "Traceback" not in log.read_text()
