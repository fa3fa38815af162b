"""Reading the real files in shared/: trimap mapping, the release's quirky files, splits, transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision import tv_tensors

from fcn_demo.core.data import (
    VAL_EVERY,
    PetSegmentation,
    breed_of,
    carve_val,
    held_out_breeds,
    list_images,
    load_image,
    load_trimap,
    read_split,
    resize_mask,
    split_unlabelled,
    train_transform,
)


def test_trimap_values_map_to_classes(data_root):
    path = data_root / "annotations" / "trimaps" / "Abyssinian_100.png"
    raw = np.asarray(Image.open(path))
    mask = load_trimap(path)
    assert set(np.unique(raw)) == {1, 2, 3}
    assert (mask[raw == 1] == 1).all()  # pet
    assert (mask[raw == 2] == 0).all()  # background
    assert (mask[raw == 3] == 2).all()  # border


def test_quirky_files_load_as_rgb(data_root):
    gif = data_root / "images" / "Abyssinian_34.jpg"
    rgba = data_root / "images" / "Abyssinian_5.jpg"
    assert Image.open(gif).format == "GIF" and Image.open(rgba).mode == "RGBA"
    for path in (gif, rgba):
        img = load_image(path)
        assert img.mode == "RGB" and min(img.size) > 32
        assert np.asarray(img).std() > 10  # a real picture, not a blank frame


def test_splits_and_validation_carve_out(data_root):
    trainval, test = read_split(data_root, "trainval"), read_split(data_root, "test")
    assert len(trainval) == 300 and len(test) == 298
    assert not set(trainval) & set(test)
    train, val = carve_val(trainval)
    assert len(val) == 300 // VAL_EVERY and len(train) + len(val) == 300
    assert not set(train) & set(val)
    assert carve_val(list(reversed(trainval))) == (train, val)  # fixed, whatever the order
    assert {n.rsplit("_", 1)[0] for n in val} == {"Abyssinian", "Bengal", "american_bulldog"}


def test_dataset_items(data_root):
    ds = PetSegmentation(data_root, ["Abyssinian_5", "Bengal_100"], short=64)
    img, mask = ds[0]
    assert img.dtype == torch.float32 and img.min() >= 0 and img.max() <= 1
    assert min(img.shape[-2:]) == 64 and mask.shape == img.shape[-2:]
    assert set(mask.unique().tolist()) <= {0, 1, 2}


def test_joint_transform_keeps_image_and_mask_aligned():
    torch.manual_seed(0)
    mask = torch.zeros(120, 160, dtype=torch.long)
    mask[30:90, 40:100] = 1
    mask[30:90, 100:104] = 2
    # The image is the mask drawn in grey levels, so any misalignment or blending shows.
    image = tv_tensors.Image((mask * 100).to(torch.uint8).expand(3, -1, -1).clone())
    t = train_transform(64, color=False)
    for _ in range(10):
        img, m = t(image, tv_tensors.Mask(mask))
        assert img.shape[-2:] == m.shape[-2:] == (64, 64)
        assert set(m.unique().tolist()) <= {0, 1, 2}  # nearest: no new labels
        agree = (img[0] * 255 / 100).round() == m
        assert agree.float().mean() > 0.9  # bilinear image edges differ, the rest matches


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), H=st.integers(1, 90), W=st.integers(1, 90))
def test_resize_mask_is_nearest(h, w, H, W):
    mask = np.random.default_rng(h * w).integers(0, 3, (h, w), dtype=np.uint8)
    out = resize_mask(mask, (H, W))
    assert out.shape == (H, W) and out.dtype == np.uint8
    assert set(np.unique(out)) <= set(np.unique(mask))


def test_unlabelled_split_holds_out_the_first_photos_of_each_breed():
    names = [f"{b}_{i}" for b in ("Bombay", "pug") for i in range(1, 8)]
    train, held = split_unlabelled(names, holdout_per_breed=2, per_breed=3)
    assert held == ["Bombay_1", "Bombay_2", "pug_1", "pug_2"]
    assert train == ["Bombay_3", "Bombay_4", "Bombay_5", "pug_3", "pug_4", "pug_5"]
    assert not set(train) & set(held)
    assert len(split_unlabelled(names, 2)[0]) == 10  # per_breed None: all the rest


def test_extra_breeds_split_by_a_fixed_rule_and_nothing_counts_twice(data_root):
    from fcn_demo.core.data import extra_root, make_splits, unlabelled_root

    extra, unlabelled = extra_root(), unlabelled_root()
    if not (extra / "images").is_dir() or not (unlabelled / "images").is_dir():
        pytest.skip("the extra labelled set or the unlabelled photos are not beside the repo")
    keep_out = set(split_unlabelled(list_images(unlabelled), 4, 0)[1])  # graded by eye: never trained
    sp = make_splits(data_root, extra, keep_out)
    # Unseen breeds: at least 10 whole breeds and 40 photos, cats (capitalised names) among them.
    assert len(sp.held_out_breeds) >= 10 and len(sp.unseen) >= 40
    assert any(b[0].isupper() for b in sp.held_out_breeds)
    assert {breed_of(n) for n in sp.unseen} == set(sp.held_out_breeds)
    # The rule is blind to scores: two of every three small breeds in name order.
    assert held_out_breeds([f"{b}_1" for b in ("a", "B", "c", "d")]) == ["a", "B", "d"]
    roles = [sp.train, sp.train_extra, sp.val, sp.val_extra, sp.unseen]
    everything = [n for r in roles for n in r]
    assert len(everything) == len(set(everything))  # no photo in two roles
    assert not {breed_of(n) for n in sp.train_extra + sp.val_extra} & set(sp.held_out_breeds)
    assert not set(sp.train_extra) & keep_out
    assert {breed_of(n) for n in sp.val_extra} == {"american_pit_bull_terrier", "basset_hound", "beagle"}
    # The teacher never labels a photo with a true mask, nor any photo of a held-out breed.
    pool, _ = split_unlabelled(list_images(unlabelled), 4, None, sp.excludes)
    assert not set(pool) & set(list_images(extra))
    assert not {breed_of(n) for n in pool} & set(sp.held_out_breeds)
    assert not set(pool) & keep_out
    assert len(pool) > 1000
