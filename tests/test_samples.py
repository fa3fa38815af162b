"""fcn_demo.core.samples: the gallery's files are test-split photos whose trimaps the app can find again."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fcn_demo.core.inputs import load_input
from fcn_demo.core.samples import find_sample, ground_truth, list_samples, match_ground_truth


def test_samples_are_test_images_with_ground_truth():
    samples = list_samples()
    assert len(samples) >= 8
    assert len({s.breed for s in samples}) == 3
    for s in samples:
        image = load_input(s.image)
        assert find_sample(image.source_bytes) == s
        gt = ground_truth(s)
        assert gt.shape == image.original_size
        assert set(np.unique(gt)) == {0, 1, 2}, f"{s.name}: a trimap has background, pet and border"
        assert max(image.original_size) <= 500
    assert find_sample(b"not a sample") is None


def test_ground_truth_only_for_unmodified_samples(tmp_path):
    sample = list_samples()[0]
    image = load_input(sample.image)
    gt, name = match_ground_truth(image.source_bytes, image.size, image.original_size)
    assert name == sample.name and gt.shape == image.size
    copy = tmp_path / "copy.png"
    Image.open(sample.image).save(copy)  # same pixels, different file: not recognised
    other = load_input(copy)
    assert match_ground_truth(other.source_bytes, other.size, other.original_size) == (None, None)
