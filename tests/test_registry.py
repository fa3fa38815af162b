"""The registry (fcn_demo.models.VARIANTS) is the one description of a variant: its recipes, its maps,
its skips and what training supervises all agree with the model it builds, and no code of the lower
layers tests a variant's name instead of reading the registry."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from fcn_demo.models import VARIANTS, build_model
from fcn_demo.training.config import TrainConfig, recipe_config

PACKAGE = Path(__file__).resolve().parent.parent / "fcn_demo"
SETTINGS = {f.name for f in fields(TrainConfig)}


@pytest.fixture(scope="module")
def outputs() -> dict[str, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    small = {"FCN": {"fc_channels": 8}, "UNet": {"center_channels": 8, "decoder_channels": [8, 8, 8, 8]}}
    out = {}
    for name, v in VARIANTS.items():
        model = build_model(name, **small[v.cls.__name__]).eval()
        with torch.inference_mode():
            out[name] = {"model": model, **model(torch.rand(1, 3, 64, 64))}
    return out


@pytest.mark.parametrize("name", list(VARIANTS))
def test_recipes_are_training_settings_and_build_the_config(name):
    v = VARIANTS[name]
    for recipe, start in ((v.recipe, None), (v.round_recipe, "checkpoints")):
        assert recipe.get("epochs", 0) > 0 and set(recipe) <= SETTINGS, recipe
        cfg = recipe_config(name, start=start)
        assert all(getattr(cfg, k) == val for k, val in recipe.items())
    assert v.round_recipe["epochs"] < v.recipe["epochs"]  # a further round fine-tunes: fewer epochs


@pytest.mark.parametrize("name", list(VARIANTS))
def test_maps_skips_and_supervised_maps_are_what_the_model_returns(outputs, name):
    v, out = VARIANTS[name], outputs[name]
    assert all(m.key in out for m in v.maps) and all(k in out for k in v.deep_supervision)
    assert [m.stride for m in v.maps] == sorted((m.stride for m in v.maps), reverse=True)  # coarse to fine
    assert tuple(getattr(out["model"], "skips", ())) == v.skips  # what forward's drop_skips switches
    for m in v.maps:
        assert 64 // out[m.key].shape[-1] == m.stride, m.key
    assert (v.parent is None) == (not v.from_parent) and v.paper[1].startswith("https://")


def test_skips_switched_off_from_the_score_maps_equal_a_forward_pass_without_them():
    torch.manual_seed(0)
    model = build_model("fcn8s", fc_channels=8).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for conv in model.score.values():  # zero-initialised: give the skips something to add
            conv.weight.normal_(0, 0.5)
        out = model(x)
        assert torch.equal(model.refuse(out)["out"], out["fuse_pool3"])
        for drops in (("pool4",), ("pool3",), ("pool3", "pool4")):
            dropped = model.refuse(out, drops)["out"]
            assert torch.allclose(dropped, model(x, drop_skips=drops)["fuse_pool3"], atol=1e-6), drops
            assert not torch.allclose(dropped, out["fuse_pool3"]), drops


# A test of a variant's name: `== "unet"`, `!= 'fcn8s'`, `in ("fcn32s", ...)`.
NAME_TEST = re.compile(r"""(?:[=!]=|\bin)\s*\(?\s*["'](?:fcn32s|fcn16s|fcn8s|unet)["']""")


@pytest.mark.parametrize("layer", ["models", "core", "request", "training"])
def test_no_code_below_the_page_tests_a_variant_s_name(layer):
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        if path == PACKAGE / "models" / "__init__.py":
            continue  # the registry itself
        hits = [line for line in path.read_text().splitlines() if NAME_TEST.search(line)]
        assert not hits, f"{path.relative_to(PACKAGE)} tests a variant's name (read the registry): {hits}"
    assert NAME_TEST.search('if cfg.variant == "unet":') and NAME_TEST.search("n in ('fcn8s', 'unet')")
