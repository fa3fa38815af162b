"""The preprocessing record (fcn_demo.core.preprocess): read from every checkpoint's config.json, the
one resize rule, and the record every caller runs models with."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fcn_demo.core.checkpoint import build_from_folder
from fcn_demo.core.preprocess import Preprocess, resize, restore, scaled_size, shared, working_size
from fcn_demo.core.runtime import run_model
from fcn_demo.models import IMAGENET_MEAN_STD, VARIANTS, build_model
from fcn_demo.request.analysis import Analyzer
from fcn_demo.training.config import TrainConfig
from fcn_demo.training.pseudo import teacher_probs
from fcn_demo.training.steps import make_model

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_record_is_what_each_shipped_config_says(name):
    config = json.loads((CHECKPOINTS / name / "config.json").read_text())
    record = Preprocess.from_config(config)
    assert record.config() == {k: config[k] for k in ("working_short_side", "size_multiple", "mean", "std")}
    # ...and a model built from the folder carries the same record.
    assert Preprocess.of(build_from_folder(CHECKPOINTS / name, name)) == record


def test_a_model_without_a_config_is_read_from_its_attributes():
    class Stub(torch.nn.Module):
        working_short_side, size_multiple = 192, 16

    assert Preprocess.of(Stub()) == Preprocess(short_side=192, multiple=16)
    assert Preprocess.of(torch.nn.Identity()) == Preprocess()  # nothing recorded: the constructors' defaults


@pytest.mark.parametrize("h, w", [(300, 400), (256, 256), (1000, 37), (31, 65)])
def test_the_working_size_rule(h, w):
    rec = Preprocess(short_side=224, multiple=16)
    wh, ww = rec.working_size(h, w)
    assert (wh, ww) == working_size(h, w, 224, 16) == scaled_size(h, w, 224 / min(h, w), 16)
    assert wh % 16 == 0 and ww % 16 == 0 and min(wh, ww) == 224
    assert rec.working_size(wh, ww) == (wh, ww)  # a working size is its own working size
    assert scaled_size(10, 10, 1.0, 32) == (32, 32)  # never below one multiple


def test_resize_returns_an_image_at_its_size_as_it_is_and_restore_maps_back():
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    assert resize(x, (64, 96)) is x
    small = resize(x, (32, 48))
    assert small.shape == (1, 3, 32, 48) and restore(small, (64, 96)).shape == (1, 3, 64, 96)
    # Antialiased: a one-pixel checkerboard shrunk 4x is a flat grey, not an aliased pattern.
    board = (torch.arange(64)[:, None] + torch.arange(96)[None, :]) % 2
    grey = resize(board.float().expand(1, 3, 64, 96), (16, 24))
    assert torch.allclose(grey, torch.full_like(grey, 0.5), atol=0.05)


def test_models_of_different_working_sizes_cannot_share_one_input_but_may_normalise_differently():
    a, b = Preprocess(), Preprocess(short_side=224)
    with pytest.raises(ValueError, match="different working sizes"):
        shared([a, b])
    other_norm = replace(a, mean=tuple(IMAGENET_MEAN_STD[0]), std=tuple(IMAGENET_MEAN_STD[1]))
    assert shared([a, other_norm]) is a and shared([]) == Preprocess()
    with pytest.raises(ValueError, match="different working sizes"):
        Analyzer({"fcn32s": build_model("fcn32s"), "fcn16s": build_model("fcn16s", working_short_side=224)})


def test_the_request_layer_and_evaluation_run_at_the_models_recorded_size():
    torch.manual_seed(0)
    model = build_model("fcn32s", fc_channels=8, working_short_side=64, size_multiple=16).eval()
    analyzer = Analyzer({"fcn32s": model})
    rgb = np.random.default_rng(0).integers(0, 255, (90, 130, 3), dtype=np.uint8)
    x = analyzer.work_tensor(rgb)
    assert tuple(x.shape[-2:]) == (64, 96) == working_size(90, 130, 64, 16)
    assert analyzer.analyze_seconds  # the GPU-time estimate reads the same rule
    image = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    seen = []
    model.register_forward_pre_hook(lambda _, args: seen.append(tuple(args[0].shape[-2:])))
    out = run_model(model, image, "cpu")
    assert seen == [(64, 96)] and out["out"].shape[-2:] == (90, 130)
    run_model(model, image, "cpu", preprocess=replace(Preprocess.of(model), short_side=32))
    assert seen[-1] == (32, 48)


def test_the_teacher_rounds_its_scales_to_its_own_multiple():
    seen = []

    class Teacher(torch.nn.Module):
        working_short_side, size_multiple = 64, 16

        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return {"out": x[:, :3]}

    probs = teacher_probs([Teacher()], torch.rand(1, 3, 64, 64), torch.device("cpu"), None, scales=(0.75, 1.0))
    assert probs.shape == (1, 3, 64, 64)
    assert seen == [(48, 48), (48, 48), (64, 64), (64, 64)]  # 0.75 x 64 = 48, a multiple of 16 (not of 32)


def test_training_writes_the_record_into_the_models_config(tmp_path):
    cfg = TrainConfig(variant="fcn32s", epochs=1, init="random", short=224)  # random: ImageNet's mean and std
    model, _ = make_model(cfg, tmp_path)
    assert Preprocess.of(model) == Preprocess(224, 32, tuple(IMAGENET_MEAN_STD[0]), tuple(IMAGENET_MEAN_STD[1]))
    model.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert Preprocess.from_config(config) == Preprocess.of(model)
