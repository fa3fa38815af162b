"""The samples' precomputed probes (fcn_demo.request.probe_grid): a click on a sample answers from the
committed grid, snapped to its cell, with what the live probe says at that very pixel; a grid made
with other weights, or an image it does not hold, goes to the live probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fcn_demo.core.inputs import load_input
from fcn_demo.core.preprocess import Preprocess
from fcn_demo.core.samples import list_samples
from fcn_demo.models.receptive import Layer, ReceptiveField
from fcn_demo.request.analysis import Requests
from fcn_demo.request.precompute import read_samples
from fcn_demo.request.probe import probe, to_work
from fcn_demo.request.probe_grid import GRID_PATH, HEAT_SCALE, ProbeGrid, build, centres, grid_pixels, weights_digest

# The heat is kept at a quarter of the working size: the page's picture of it differs by a few levels.
HEAT_LEVELS = 4


@pytest.fixture(scope="module")
def weights(loaded_models):
    return {n: weights_digest(m.folder, n) for n, m in loaded_models.items()}


@pytest.fixture(scope="module")
def grid():
    g = ProbeGrid.read()
    assert g is not None, f"{GRID_PATH} is missing: python -m fcn_demo.request.precompute"
    return g


@pytest.mark.parametrize("index, where", [(4, (0.3, 0.6)), (2, (0.85, 0.1))])  # a square sample, a portrait one
def test_the_committed_grid_answers_as_the_live_probe(analyzer, grid, weights, index, where):
    """The cached answer equals the one computed now, by the app's own probe, at the snapped pixel."""
    image = load_input(list_samples()[index].image)
    h, w = image.rgb.shape[:2]
    x, y = int(where[0] * w), int(where[1] * h)
    assert grid.covers(image.digest, weights), "the grid was computed with other weights: recompute it"
    cached = grid.probe(image.digest, image.rgb, x, y, weights)
    live = analyzer.probe(image.rgb, cached.x, cached.y)
    assert cached.precomputed and not live.precomputed
    assert (cached.work_size, cached.work_xy, cached.size) == (live.work_size, live.work_xy, live.size)
    assert list(cached.models) == list(live.models) and cached.sentence == live.sentence
    for name, c in cached.models.items():
        m = live.models[name]
        np.testing.assert_allclose(c.probs, m.probs, rtol=0, atol=1e-6, err_msg=name)
        assert (c.winner, c.box, c.box_work, c.field_px) == (m.winner, m.box, m.box_work, m.field_px), name
        assert c.radius_px == pytest.approx(m.radius_px, abs=1e-3) and c.radius_frac == pytest.approx(m.radius_frac)
        assert c.heat.shape == m.heat.shape and np.abs(c.heat.astype(int) - m.heat).mean() < HEAT_LEVELS, name


def test_the_grid_is_small_and_holds_the_samples_it_lists(grid, weights):
    """Every sample the grid lists is there for these weights, the README's sample among them, in
    under 550 kB a sample (samples it lacks are probed live: python -m fcn_demo.request.precompute)."""
    listed = read_samples(GRID_PATH)
    by_name = {s.name: load_input(s.image).digest for s in list_samples()}
    assert "Bengal_193" in listed.values()
    for digest, name in listed.items():
        assert by_name[name] == digest and grid.covers(digest, weights), name
    assert GRID_PATH.stat().st_size < 550e3 * len(listed)


def test_a_grid_probe_answers_in_milliseconds(grid, weights):
    image = load_input(list_samples()[0].image)
    p = grid.probe(image.digest, image.rgb, 5, 5, weights)
    assert p.ms < 200, "a precomputed answer is a look-up"


# ---------------------------------------------------------------------------- the grid's arithmetic, no model


def test_cells_cover_the_working_image():
    assert centres(256, 64) == [31, 95, 159, 223]
    assert centres(352, 64) == [31, 95, 159, 223, 287, 335]  # the last cell is half a cell: 320..351
    for size, work in [((288, 289), (256, 256)), ((116, 150), (256, 320)), ((500, 335), (384, 256))]:
        xs, ys = grid_pixels(size, work, 64)
        # Each probed display pixel falls in the working cell it stands for.
        assert [to_work(x, 0, size, work)[0] // 64 for x in xs] == list(range(len(xs)))
        assert [to_work(0, y, size, work)[1] // 64 for y in ys] == list(range(len(ys)))


class Tiny(nn.Module):
    """A one-layer stand-in model: a 3x3 convolution to three class scores, with its field."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return {"out": self.conv(x)}

    def receptive_field(self) -> ReceptiveField:
        return ReceptiveField(((Layer(3, 1, 1, 1),),))


class FakeAnalyzer:
    """Analyzer's share the grid uses, around two tiny models (no checkpoints): its bookkeeping, fast."""

    dtype = None
    models = {"fcn32s": Tiny().eval(), "unet": Tiny().eval()}

    class preprocess:  # noqa: N801 (stands in for the Preprocess record)
        @staticmethod
        def working_size(h, w):
            return (128, 192)

    def work_tensor(self, rgb):
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        return torch.nn.functional.interpolate(x, size=(128, 192), mode="bilinear")


def test_a_written_grid_reads_back_and_snaps_to_the_cell(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (96, 144, 3), dtype=np.uint8)
    weights = {"fcn32s": "a" * 16, "unet": "b" * 16}
    build(FakeAnalyzer(), {"img": ("toy", rgb)}, weights, cell=64, progress=lambda s: None).write(tmp_path / "g")
    g = ProbeGrid.read(tmp_path / "g")
    assert g.cell == 64 and g.weights == weights
    p = g.probe("img", rgb, 140, 2, weights)  # working (190, 2): the last column's cell, the first row's
    (cx, cy) = p.work_xy
    assert cx // 64 == 2 and cy // 64 == 0 and p.precomputed
    live = probe(FakeAnalyzer.models, rgb, p.x, p.y, Preprocess(short_side=128), torch.device("cpu"))
    assert live.work_size == (128, 192) and live.work_xy == p.work_xy
    for n, m in p.models.items():
        assert m.grad is None and m.radius_px == pytest.approx(live.models[n].radius_px)
        np.testing.assert_allclose(m.probs, live.models[n].probs, atol=1e-6)
    assert p.models["fcn32s"].heat.shape == rgb.shape[:2]
    assert g.tensors["img/unet/heat"].shape == (2, 3, 128 // HEAT_SCALE, 192 // HEAT_SCALE)
    assert g.probe("other", rgb, 1, 1, weights) is None
    assert g.probe("img", rgb, 1, 1, {**weights, "unet": "c" * 16}) is None, "other weights: not these answers"
    assert g.probe("img", rgb, 1, 1, {**weights, "fcn8s": "d" * 16}) is None, "a model the grid lacks"


def test_requests_answer_a_sample_from_the_grid_and_anything_else_live(tmp_path):
    rgb = np.zeros((96, 144, 3), np.uint8)
    weights = {"fcn32s": "a" * 16, "unet": "b" * 16}
    grid = build(FakeAnalyzer(), {"img": ("toy", rgb)}, weights, cell=64, progress=lambda s: None)
    ran = []

    def live(rgb, x, y):
        ran.append((x, y))
        return probe(FakeAnalyzer.models, rgb, x, y, Preprocess(short_side=128), torch.device("cpu"))

    r = Requests(lambda *a: None, probe=live, grid=grid, weights=weights)
    assert r.precomputed("img") and not r.precomputed("upload")
    assert r.probe_pixel("img", rgb, 10, 10).precomputed and not ran
    assert not r.probe_pixel("upload", rgb, 10, 10).precomputed and ran == [(10, 10)]
    stale = Requests(lambda *a: None, probe=live, grid=grid, weights={**weights, "unet": None})
    assert not stale.precomputed("img"), "weights without a manifest entry are not known to match"
