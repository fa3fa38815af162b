"""The pixel probe (fcn_demo.request.probe, Analyzer.probe, views.probe_panels / probe_summary) on the real
checkpoints: the effective field lives inside the theoretical box, the answer is plain picklable
data, the sentence and the pictures say what they show."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest
import torch

from fcn_demo.core.data import CLASSES
from fcn_demo.core.inputs import load_input
from fcn_demo.core.samples import list_samples
from fcn_demo.models import VARIANTS
from fcn_demo.page import views
from fcn_demo.request import probe as probe_mod
from fcn_demo.request.probe import ModelProbe, box_to_display, mass_radius, sentence, to_work

# A box may be looser than the gradient's support by less than one stride-8 cell on a side.
TIGHT_PX = 8


@pytest.fixture(scope="module")
def sample():
    s = list_samples()[0]
    return s.name, load_input(s.image).rgb


@pytest.fixture(scope="module")
def probes(analyzer, sample):
    """Two probes of the real models: off the diagonal inside the image, and near its top-left corner."""
    _, rgb = sample
    h, w = rgb.shape[:2]
    return {"inside": analyzer.probe(rgb, 7 * w // 10, 3 * h // 10), "corner": analyzer.probe(rgb, 3, 2)}


def _outside(grad: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    top, left, bottom, right = box
    out = np.ones(grad.shape, dtype=bool)
    out[top : bottom + 1, left : right + 1] = False
    return out


@pytest.mark.parametrize("where", ["inside", "corner"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_effective_field_lies_in_the_theoretical_box(probes, name, where):
    p = probes[where]
    m = p.models[name]
    outside = _outside(m.grad, m.box_work)
    if where == "corner":
        assert outside.mean() > 0.3, "the corner's box must leave much of the image out, or this test proves little"
    assert m.grad.shape == p.work_size and m.grad.dtype == np.float32
    assert np.all(m.grad[outside] == 0), "gradient outside the theoretical box"
    wx, wy = p.work_xy
    assert m.grad[wy, wx] > 0, "the probed pixel itself influences its own answer"
    # ...and the box is no wider than the gradient reaches (sides at the image edge aside).
    rows, cols = np.nonzero(m.grad)
    top, left, bottom, right = m.box_work
    assert rows.min() - top < TIGHT_PX and bottom - rows.max() < TIGHT_PX
    assert cols.min() - left < TIGHT_PX and right - cols.max() < TIGHT_PX


def test_corner_probe_clips_its_box(probes):
    p = probes["corner"]
    h, w = p.size
    for m in p.models.values():
        top, left, bottom, right = m.box
        assert (top, left) == (0, 0)
        assert bottom < h - 1 and right < w - 1, f"{m.title}: a corner pixel's box cannot span the image"
        assert m.box_work[2] - m.box_work[0] + 1 < m.field_px, "clipped below the theoretical width"


@pytest.mark.parametrize("where", ["inside", "corner"])
def test_answers_are_probabilities_and_heat_maps(probes, where):
    p = probes[where]
    assert list(p.models) == list(VARIANTS)
    for m in p.models.values():
        assert m.probs.shape == (len(CLASSES),) and abs(float(m.probs.sum()) - 1) < 1e-5
        assert m.winner == int(np.argmax(m.probs))
        assert m.heat.shape == p.size and m.heat.dtype == np.uint8 and m.heat.max() == 255
        assert 0 < m.radius_px < max(p.work_size) and m.radius_frac == pytest.approx(m.radius_px / min(p.work_size))
        assert m.ms > 0 and m.precision in ("bf16", "fp32")


def test_probabilities_are_the_models_own_at_the_clicked_pixel(analyzer, probes, sample):
    """The probe answers for the working pixel under the click (x right, y down), as a plain forward says."""
    _, rgb = sample
    p = probes["inside"]
    (h, w), (hw, ww) = p.size, p.work_size
    wx, wy = int((p.x + 0.5) * ww / w), int((p.y + 0.5) * hw / h)
    assert p.work_xy == (wx, wy)
    with torch.inference_mode():
        for name, model in analyzer.models.items():
            probs = model(analyzer.work_tensor(rgb))["out"][0, :, wy, wx].float().softmax(0).numpy()
            np.testing.assert_allclose(p.models[name].probs, probs, atol=0.02, err_msg=name)


def test_probe_pickles_and_keeps_no_state(analyzer, probes):
    p = probes["inside"]
    back = pickle.loads(pickle.dumps(p))
    assert back.sentence == p.sentence and back.work_xy == p.work_xy
    for name, m in p.models.items():
        assert np.array_equal(back.models[name].grad, m.grad) and back.models[name].box == m.box
    for model in analyzer.models.values():
        assert not model.training
        assert all(q.grad is None for q in model.parameters()), "a probe must not leave gradients in the weights"


def test_sentence_names_every_model(probes):
    for p in probes.values():
        for m in p.models.values():
            assert m.title in p.sentence
            assert f"{m.field_px}" in p.sentence and f"{2 * m.radius_px:.0f} px ({m.title})" in p.sentence


def test_sentence_when_the_models_disagree():
    def answer(name: str, title: str, probs: list[float], radius: float) -> ModelProbe:
        grad = np.zeros((4, 4), np.float32)
        return ModelProbe(name, title, np.array(probs, np.float32), int(np.argmax(probs)), 308, (0, 0, 3, 3),
                          (0, 0, 3, 3), grad, grad.astype(np.uint8), radius, radius / 4, 1.0, "fp32")  # fmt: skip

    models = {"a": answer("a", "FCN-32s", [0.6, 0.3, 0.1], 50), "b": answer("b", "U-Net", [0.05, 0.9, 0.05], 12)}
    text = sentence(5, 6, (4, 4), models)
    assert text.startswith("At (5, 6) the models disagree (FCN-32s background; U-Net pet); U-Net is surest (pet, 90%)")
    # widths beside widths: the theoretical fields and the circle holding 90% of the gradient (2 x its radius)
    assert "circle around the pixel only 100 px (FCN-32s), 24 px (U-Net) wide" in text


def test_pixel_arithmetic():
    assert to_work(0, 0, (300, 400), (256, 352)) == (0, 0)
    assert to_work(399, 299, (300, 400), (256, 352)) == (351, 255)
    assert to_work(200, 150, (300, 400), (256, 352)) == (176, 128)
    assert box_to_display((0, 0, 255, 351), (256, 352), (300, 400)) == (0, 0, 299, 399)
    assert box_to_display((128, 176, 128, 176), (256, 352), (512, 704)) == (256, 352, 257, 353)
    grad = np.zeros((9, 9), np.float32)
    grad[4, 4] = 1
    assert mass_radius(grad, 4, 4) == 0
    grad[4, 8] = 9  # 90% of the mass 4 px away
    assert mass_radius(grad, 4, 4) == 4
    assert mass_radius(np.zeros((3, 3), np.float32), 1, 1) == 0


def test_a_pixel_outside_the_image_says_which_are_valid(analyzer, sample):
    _, rgb = sample
    with pytest.raises(ValueError, match=r"outside the \d+x\d+ image: pick x in 0\.\.\d+"):
        analyzer.probe(rgb, rgb.shape[1], 0)


def test_bf16_backward_falls_back_to_fp32(analyzer, sample, monkeypatch):
    """Where a backend has no bf16 backward for some layer, the probe computes the gradient in fp32."""
    real = probe_mod._logits_and_grad

    def no_bf16(model, x, wx, wy, dtype):
        if dtype is not None:
            raise RuntimeError("no bf16 kernel for this backward")
        return real(model, x, wx, wy, dtype)

    monkeypatch.setattr(probe_mod, "_logits_and_grad", no_bf16)
    monkeypatch.setattr(analyzer, "dtype", torch.bfloat16)
    monkeypatch.setattr(analyzer, "models", {"fcn32s": analyzer.models["fcn32s"]})
    _, rgb = sample
    m = analyzer.probe(rgb, 10, 10).models["fcn32s"]
    assert m.precision == "fp32" and m.grad.any()


def test_probe_works_inside_inference_mode(analyzer, sample, monkeypatch):
    """The app's model calls run under inference_mode; the probe's gradient must not care."""
    monkeypatch.setattr(analyzer, "models", {"fcn8s": analyzer.models["fcn8s"]})
    _, rgb = sample
    with torch.inference_mode():
        m = analyzer.probe(rgb, 10, 10).models["fcn8s"]
    assert m.grad.any()


def test_probe_panels_show_every_model_with_alt_text(probes, sample):
    label, rgb = sample
    p = probes["inside"]
    page = views.probe_panels(p, rgb, label)
    assert page.count('class="panel probe-panel"') == len(p.models)
    alts = re.findall(r'<img [^>]*alt="([^"]+)"', page)
    assert len(alts) == len(p.models)
    for alt, m in zip(alts, p.models.values()):
        alt = alt.replace("&#x27;", "'")
        assert alt.startswith(
            f"{m.title}'s receptive field at ({p.x}, {p.y}) of {label}: theoretical {m.field_px} px box"
        )
        assert f"90% of the gradient within {m.radius_px:.0f} px" in alt
    assert page.index("probe-sentence") < page.index("probe-panel")
    assert page.count('aria-label="class probabilities"') == len(p.models)
    with pytest.raises(ValueError, match="probe was taken on"):
        views.probe_panels(p, rgb[:-1], label)
    assert 'class="empty"' in views.probe_panels(None, None)


def test_probe_summary_is_json(probes):
    p = probes["corner"]
    s = json.loads(json.dumps(views.probe_summary(p)))
    assert s["pixel"] == {"x": 3, "y": 2} and s["sentence"] == p.sentence
    for name, m in p.models.items():
        got = s["models"][name]
        assert got["winner"] == CLASSES[m.winner] and abs(sum(got["probabilities"]) - 1) < 1e-3
        assert tuple(got["box"].values()) == m.box and got["theoretical_field_px"] == m.field_px
        assert got["radius_90_px"] == round(m.radius_px, 1)
