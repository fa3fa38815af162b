"""The ZeroGPU contract, reproduced on the CPU with the stand-in ``spaces`` in tests/zerogpu/.

On a free Hugging Face Space the model step runs in a worker process forked for the call and
returns pickled data; the server process runs no model and never sees what the call changed.
``python app.py`` is started with the stand-in on its path, and every event of the page and the
``segment`` API is driven through gradio_client and the browser: each must work from the data the
one GPU call returned.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from appserver import ZEROGPU_ENV, running_app

from fcn_demo.core.samples import list_samples
from fcn_demo.models import VARIANTS


def _standin(*codes: str, **env: str) -> list[str]:
    """Run each of ``codes`` in a fresh interpreter with the stand-in ``spaces``, all at once (each
    process has its own quotas); returns their stdouts."""
    procs = [subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **ZEROGPU_ENV, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for code in codes]  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return [out for out, _ in outs]


def test_the_standin_keeps_the_contract():
    """The stand-in itself: a model in the server fails; inside GPU it runs, and its state stays there."""
    code = """
import torch, spaces
store = {}
@spaces.GPU(duration=lambda n: n)  # the real duration= callable: the call's own arguments
def step(n):
    store["seen"] = n  # dies with the worker
    return torch.nn.Linear(2, n)(torch.zeros(1, 2)).shape[1]
assert step(3) == 3 and store == {}, store
try:
    torch.nn.Linear(2, 2)(torch.zeros(1, 2))
except spaces.ModelInServerError:
    print("refused in the server")
"""
    assert "refused in the server" in _standin(code)[0]


def test_the_standin_charges_a_quota_as_zerogpu_does():
    """The request x 1.5 must fit in what the visitor has left, and the time the call took is what is
    billed: with 80 s left, the default 60 s is refused (90 s needed), 13 s is not (19.5 s needed).
    No duration, or more than 20 s, is refused as the app's bug."""
    code = """
import time, spaces, gradio as gr
for duration in (60, 20, 13):
    try:
        spaces.GPU(lambda: time.sleep(0.3), duration=duration)()
        print(duration, "ran")
    except gr.Error as e:
        print(duration, "quota:", e.message)
    except spaces.DurationError as e:
        print(duration, "refused:", e)
print("left", spaces.left("anonymous"))
try:
    spaces.GPU(lambda: 1)()
except spaces.DurationError as e:
    print("none refused:", e)
"""
    refused = """
import spaces
try:
    spaces.GPU(lambda: 1, duration=21)()
except spaces.DurationError as e:
    print("refused:", e)
"""
    out, too_long = _standin(code, refused, ZEROGPU_STANDIN_SPENT="anonymous=40")
    assert "60 quota: You have exceeded your GPU quota (90s requested vs. 80s left)" in out
    assert "20 ran" in out
    assert "13 ran" in out and "none refused: a @spaces.GPU call asked for no duration" in out
    billed = 80 - float(out.split("left ")[1].split()[0])
    assert 0.6 <= billed < 5  # the two calls' own time (a fork and 0.3 s each), not the 33 s they asked for
    assert "refused: a @spaces.GPU call asked for 21 s: more than 20 s" in too_long


def test_every_request_the_app_can_make_fits_20_seconds_of_quota(analyzer):
    """Over every shape the app accepts (up to the 10:1 strip), the longest request needs <= 20 s of
    quota (x 1.5), and a bigger image never asks for less."""
    from fcn_demo.core.inputs import DISPLAY_MAX_SIDE, MAX_ASPECT, MIN_SIDE, PreparedImage

    asked = {}
    for short in (MIN_SIDE, 100, 256, 700, DISPLAY_MAX_SIDE // MAX_ASPECT, DISPLAY_MAX_SIDE):
        for aspect in (1, 1.5, 4, MAX_ASPECT):
            long = min(DISPLAY_MAX_SIDE, round(short * aspect))
            for h, w in ((short, long), (long, short)):
                rgb = np.zeros((h, w, 3), np.uint8)
                asked[h, w] = (analyzer.analyze_seconds(PreparedImage(rgb, (h, w), "x"), None, None),
                               analyzer.probe_seconds(rgb, 0, 0))  # fmt: skip
    assert all(1 <= s <= 13 for pair in asked.values() for s in pair), asked
    assert max(s * 1.5 for pair in asked.values() for s in pair) <= 20
    assert asked[102, 1020][0] > asked[700, 1024][0]  # the strip works on 256x2560, the photo on 256x384


@pytest.fixture(scope="module")
def zerogpu_app(app_checkpoints, tmp_path_factory):
    """`python app.py` under the stand-in, on a free port; yields (url, log path). Visitor "student-7"
    has spent 100 s of the 120 s quota already."""
    log = tmp_path_factory.mktemp("zerogpu") / "app.log"
    with running_app(log, {**ZEROGPU_ENV, "ZEROGPU_STANDIN_SPENT": "student-7=100"}) as url:
        yield url, log
    assert "ModelInServerError" not in log.read_text(), "a model ran in the server process"


def own_photo(sample, folder: Path) -> Path:
    """A photo no sample is: ``sample`` mirrored, as a visitor's upload."""
    from PIL import Image, ImageOps

    path = folder / f"own_{sample.name}.png"
    with Image.open(sample.image) as im:
        ImageOps.mirror(im.convert("RGB")).save(path)
    return path


def test_every_api_event_works_from_the_gpu_calls_data(zerogpu_app, tmp_path):
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
    (maps,) = client.predict(2, "raw score", api_name="/maps")  # a redraw answers each view that reads its settings
    assert maps.count('<figure class="heatmap-row"') == len(VARIANTS) and "class border (raw score)" in maps
    assert maps.count("<img") == sum(len(v.maps) for v in VARIANTS.values())  # a tile a map
    ablated = client.predict(False, True, True, api_name="/ablate")
    assert "switched off: <b>pool4</b>" in ablated[0] and "switched off: <b>nothing</b>" in ablated[1]
    masks, summary = client.predict(handle_file(str(list_samples()[5].image)), api_name="/segment")
    assert len(masks) == len(VARIANTS) and summary["image"]["sample"] == list_samples()[5].name
    # The probe is a model step of its own (forward and backward): also a GPU call, also pickled back
    # (on a visitor's own photo: a sample's probe is precomputed, request.probe_grid).
    probe = client.predict(handle_file(str(own_photo(sample, tmp_path))), 100, 80, api_name="/probe")
    assert set(probe["models"]) == set(VARIANTS) and probe["sentence"]
    assert "ModelInServerError" not in log.read_text()


def test_a_visitor_with_20_seconds_left_still_gets_an_analysis_and_a_probe(zerogpu_app, tmp_path):
    """A visitor without an account has 120 s a day; one who spent 100 of them still gets answers (the
    default 60 s request would be refused with 80 s left: see the test above)."""
    from gradio_client import Client, handle_file

    url, log = zerogpu_app
    seen = len(log.read_text())
    client = Client(url, verbose=False, headers={"X-IP-Token": "student-7"})
    sample = list_samples()[6]
    masks, summary = client.predict(handle_file(str(sample.image)), api_name="/segment")
    assert len(masks) == len(VARIANTS) and summary["image"]["sample"] == sample.name
    probe = client.predict(handle_file(str(own_photo(list_samples()[7], tmp_path))), 50, 40, api_name="/probe")
    assert set(probe["models"]) == set(VARIANTS)
    said = log.read_text()[seen:]
    calls = re.findall(r"zerogpu stand-in: (\w+) requested \d+ s, took [\d.]+ s; (-?[\d.]+) s left", said)
    # One GPU call per request (the probe runs only the probe), each charged to what this visitor had left.
    assert [fn for fn, _ in calls] == ["analyze", "probe"], said
    assert all(float(left) < 20 for _, left in calls), calls
    assert "DurationError" not in said


@pytest.mark.slow
def test_the_page_works_under_zerogpu(zerogpu_app):
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser import ARGS, CHROMIUM

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
        page.locator("#cls").get_by_label("border").check()
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


@pytest.mark.heavy
def test_a_waiting_visitor_sees_their_place_in_the_queue(zerogpu_app, tmp_path):
    """While other visitors' model steps fill the queue, a sample click shows its place in the queue
    over the views (Gradio's status tracker), at a desk's, a laptop's and a phone's size (three
    visitors at once, each clicking while the others' steps run)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser import ARGS, CHROMIUM, shoot
    from gradio_client import Client, handle_file
    from PIL import Image

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    url, log = zerogpu_app
    with Image.open(list_samples()[8].image) as im:
        photos = []
        for i in range(6):  # other visitors' photos: new to the server, so each is a model step
            photos.append(tmp_path / f"busy_{i}.png")
            im.convert("RGB").crop((i, i, im.width - 2 * i, im.height - i)).save(photos[-1])
    sizes = ((1440, 900), (1280, 720), (390, 844))
    shown = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = []
        for w, h in sizes:
            pages.append(browser.new_page(viewport={"width": w, "height": h}))
            pages[-1].set_default_timeout(180_000)
            pages[-1].goto(url)
            pages[-1].locator("#samples img").first.wait_for()
        # Other visitors, each with a quota of their own (the X-IP-Token the Space's proxy adds).
        busy = [Client(url, verbose=False, headers={"X-IP-Token": f"busy-{i}"}) for i in range(3)]
        jobs = [busy[i % 3].submit(handle_file(str(f)), api_name="/segment") for i, f in enumerate(photos)]
        time.sleep(1.5)  # the queue fills
        for k, page in enumerate(pages):
            page.locator("#samples img").nth(9 + k).click()  # samples no earlier test asked for
        for (w, h), page in zip(sizes, pages):
            waiting = page.get_by_text(re.compile(r"queue: \d+/\d+")).first
            waiting.wait_for()
            shown[w] = waiting.inner_text()
            shoot(page, f"queue_{w}x{h}.png", settle=0)
        for k, page in enumerate(pages):
            page.wait_for_selector(f'#status [data-image="{list_samples()[9 + k].name}"]')
        for job in jobs:
            job.result(timeout=300)
        browser.close()
    for w, said in shown.items():  # "queue: place/length", behind the other visitors' steps
        place, length = map(int, re.search(r"queue: (\d+)/(\d+)", said).groups())
        assert 1 <= place <= length and length >= 2, f"at {w} px wide the page said {said!r}"
