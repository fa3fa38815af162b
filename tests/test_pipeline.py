"""fcn_demo.request.analysis, the request layer: one Analysis per image holds every view's data, the
ablations come from the one forward pass, results are plain picklable data, and the cache says so."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from fcn_demo.core.inputs import InputError, load_input
from fcn_demo.core.runtime import run_model
from fcn_demo.core.samples import list_samples
from fcn_demo.models import VARIANTS, build_model, get_variant
from fcn_demo.page.viz import map_stride
from fcn_demo.request.analysis import Analyzer, Requests, combos
from fcn_demo.request.export import MaskFiles, export_masks


def _jpeg(w: int, h: int) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def sample_image():
    return load_input(list_samples()[0].image)


@pytest.fixture(scope="module")
def analysis(analyzer, sample_image):
    return Requests(analyzer.analyze).analyze(list_samples()[0].image)


def test_combos_are_every_set_of_switches():
    assert combos(()) == []
    assert combos(("pool4",)) == [("pool4",)]
    assert combos(("pool4", "pool3")) == [("pool4",), ("pool3",), ("pool3", "pool4")]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_gives_a_mask_and_its_maps_at_the_registry_strides(analysis, name):
    m = analysis.models[name]
    assert m.mask.shape == analysis.size and m.mask.dtype == np.uint8
    assert set(np.unique(m.mask)) <= {0, 1, 2}
    assert m.ms > 0
    specs = get_variant(name).maps
    assert list(m.maps) == [s.key for s in specs]
    for s in specs:
        arr = m.maps[s.key]
        assert arr.shape[0] == 3 and arr.dtype == np.float16
        assert map_stride(arr.shape[-2:], analysis.work_size) == s.stride, s.key
    assert m.confidence.shape == m.mask.shape and m.confidence.dtype == np.uint8
    assert m.confidence.min() >= 255 // 3, "the winning class of three has at least a third of the probability"
    assert set(m.ablations) == set(combos(get_variant(name).skips))


def test_sample_has_ground_truth_and_metrics(analysis):
    assert analysis.sample == list_samples()[0].name and analysis.gt.shape == analysis.size
    for m in analysis.models.values():
        assert 0 <= m.metrics["miou"] <= 1 and set(m.metrics) == {"pixel_acc", "miou", "border_iou"}
        assert all(set(v) == set(m.metrics) for v in m.ablation_metrics.values())


def test_ablations_from_the_score_maps_equal_a_forward_pass_without_the_skips(sample_image):
    torch.manual_seed(0)
    model = build_model("fcn8s").eval()
    with torch.no_grad():  # the skip scores start at zero; give them something to contribute
        for conv in model.score.values():
            conv.weight.normal_(0, 0.5)
    analyzer = Analyzer({"fcn8s": model}, "cpu")
    analyzer.dtype = None  # compare in fp32
    a = analyzer.analyze(sample_image, None, None)
    m = a.models["fcn8s"]
    x = analyzer.work_tensor(sample_image.rgb)[0]
    for drops in combos(("pool4", "pool3")):
        out = run_model(model, x, "cpu", None, drop_skips=drops)["out"]
        logits = torch.nn.functional.interpolate(out, size=sample_image.size, mode="bilinear", align_corners=False)
        again = logits.argmax(1)[0].numpy()
        assert (m.ablations[drops] == again).mean() > 0.999, drops
    assert any((v != m.mask).any() for v in m.ablations.values()), "switching skips off changes the mask"
    assert np.array_equal(m.ablated(()), m.mask)


def test_analysis_is_plain_data_that_pickles(analysis):
    """ZeroGPU sends the model step's result back pickled: it must survive a round trip whole."""
    back = pickle.loads(pickle.dumps(analysis))
    assert back.digest == analysis.digest and set(back.models) == set(analysis.models)
    for name, m in analysis.models.items():
        assert np.array_equal(back.models[name].mask, m.mask)
        assert all(isinstance(v, np.ndarray) for v in back.models[name].maps.values())
    assert not any(isinstance(v, torch.Tensor) for v in vars(analysis).values())


def test_requests_cache_says_so_and_runs_no_model(analyzer):
    calls = []

    def run(image, gt, sample):
        calls.append(image)
        assert image.source_bytes is None, "the upload's bytes are not sent to the model step"
        return analyzer.analyze(image, gt, sample, names=["fcn32s"])

    requests = Requests(run, unavailable={"unet": "missing file"}, cache_size=1)
    first = requests.analyze(_jpeg(96, 64))
    assert not first.cached and first.sample is None and first.gt is None
    assert first.unavailable == {"unet": "missing file"}
    again = requests.analyze(_jpeg(96, 64))
    assert again.cached and len(calls) == 1
    requests.analyze(_jpeg(97, 64))  # evicts the first (cache of one)
    requests.analyze(_jpeg(96, 64))
    assert len(calls) == 3


def test_no_pet_is_said_when_every_model_finds_none(analyzer):
    a = Requests(analyzer.analyze).analyze(np.full((64, 96, 3), 128, np.uint8))
    for m in a.models.values():
        m.mask[:] = 0
    assert a.no_pet()
    a.models["unet"].mask[:7, :8] = 1
    assert a.no_pet()  # 56 of 6144 pixels: still under 1%
    a.models["unet"].mask[:32] = 1
    assert not a.no_pet()


def test_export_masks_at_original_size(analyzer, tmp_path):
    a = Requests(analyzer.analyze).analyze(_jpeg(1500, 1100))
    masks = {n: m.mask for n, m in a.models.items()}
    paths = export_masks(masks, a.original_size, tmp_path, "photo")
    assert [p.name for p in paths] == [f"photo_{n}.png" for n in VARIANTS] + ["photo_masks.zip"]
    for p, m in zip(paths, masks.values()):
        with Image.open(p) as im:
            assert im.size == (1500, 1100) and im.mode == "P"
            assert np.array_equal(np.asarray(im.resize(m.shape[::-1], Image.NEAREST)), m)
    assert not list(tmp_path.glob(".*.tmp"))


def test_mask_files_keep_only_the_recent_images(tmp_path):
    files = MaskFiles(keep=2, root=tmp_path)
    mask = {"fcn32s": np.zeros((40, 40), np.uint8)}
    for digest in ("a", "b", "c"):
        files.write(digest, mask, (40, 40), "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c"]


def test_the_probe_request_runs_only_the_probe_at_the_display_pixel(analyzer):
    """The ``probe`` API: the upload validated, the click mapped from the image's own pixels to the
    display-size image, the probe step run alone (no analysis, no cache)."""
    seen = []

    def no_analysis(*args):
        raise AssertionError("the probe request ran an analysis")

    requests = Requests(no_analysis, probe=lambda rgb, x, y: seen.append((rgb.shape[:2], x, y)) or "probe")
    image = _jpeg(3000, 2000)  # shown at a smaller display size
    assert requests.probe(image, 2999, 1000) == "probe"
    (h, w), x, y = seen[0]
    assert (h, w) == load_input(image).size and (x, y) == (int(2999 * w / 3000), int(1000 * h / 2000))
    with pytest.raises(InputError, match="3000"):
        requests.probe(image, 3000, 0)  # one past the right edge, in the image's own pixels
    with pytest.raises(RuntimeError, match="without a probe step"):
        Requests(no_analysis).probe(image, 0, 0)


def test_the_disagreement_map_is_computed_once_and_counts_the_differing_pixels(analysis):
    d = analysis.disagreement
    assert analysis.disagreement is d  # once per analysis, however many views read it
    stack = np.stack([m.mask for m in analysis.models.values()])
    differ = (stack != stack[0]).any(0)
    assert np.array_equal(d.distinct > 1, differ) and d.count == int(differ.sum())
    assert d.models == len(analysis.models) and d.share == pytest.approx(differ.mean())
    assert 0 <= d.on_border <= 1 and d.border_share == pytest.approx((analysis.gt == 2).mean())


def test_download_files_are_written_only_when_asked(analysis, tmp_path):
    files = MaskFiles(root=tmp_path)
    paths = files.of(analysis)
    assert [p.name for p in paths] == [f"{analysis.sample}_{n}.png" for n in analysis.models] + [
        f"{analysis.sample}_masks.zip"
    ]
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert files.of(analysis) == paths and [p.stat().st_mtime_ns for p in paths] == stamps  # built once
