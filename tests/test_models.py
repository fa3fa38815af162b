"""Every registered variant: shapes, keys, gradients, save/load round trip; backbone weight import."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fcn_demo.core.checkpoint import build_from_folder
from fcn_demo.models import IMAGENET_MEAN_STD, VARIANTS, VGG16Backbone, build_model, get_variant
from fcn_demo.models.fcn import Upsample2x
from fcn_demo.training.pretrained import convert_hed_h5, load_backbone, torchvision_state_dict


def _seeded(name: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, **kw).eval()


@pytest.mark.parametrize("name", list(VARIANTS))
class TestVariant:
    @pytest.mark.parametrize("size", [(67, 93), (32, 32), (45, 130)])
    def test_output_shape_and_keys(self, name, size):
        model = _seeded(name)
        with torch.no_grad():
            out = model(torch.rand(2, 3, *size))
        assert out["out"].shape == (2, 3, *size)
        assert set(out) == {"out"} | {m.key for m in get_variant(name).maps}
        for m in get_variant(name).maps:  # each map at the stride the registry gives it (ceil-mode pools)
            assert out[m.key].shape == (2, 3, -(-size[0] // m.stride), -(-size[1] // m.stride)), m.key
            assert torch.isfinite(out[m.key]).all()

    def test_registry_switches_are_the_models_skips(self, name):
        assert tuple(getattr(_seeded(name), "skips", ())) == get_variant(name).skips

    def test_backward(self, name):
        model = _seeded(name).train()
        x, y = torch.rand(2, 3, 64, 80), torch.randint(0, 3, (2, 64, 80))
        out = model(x)
        # The teaching maps count too: U-Net's per-stage heads only learn through deep supervision.
        loss = F.cross_entropy(out["out"], y) + sum(v.mean() for v in out.values())
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None for g in grads)
        assert sum(g.abs().sum().item() for g in grads) > 0

    def test_save_load_round_trip(self, name, tmp_path):
        model = _seeded(name)
        x = torch.rand(1, 3, 64, 96)
        model.save_pretrained(tmp_path)
        assert json.loads((tmp_path / "config.json").read_text())["working_short_side"] == 256
        loaded = build_from_folder(tmp_path, name)
        assert set(loaded.state_dict()) == set(model.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(loaded(x)["out"], model(x)["out"])


def test_registry_rejects_unknown_names():
    with pytest.raises(KeyError, match="valid: fcn32s, fcn16s, fcn8s, unet"):
        get_variant("fcn4s")


def test_skip_scores_start_at_zero_and_upsampling_is_bilinear():
    model = _seeded("fcn8s")
    for conv in model.score.values():
        assert conv.weight.abs().sum() == 0 and conv.bias.abs().sum() == 0
    up = Upsample2x(3)
    x = torch.rand(1, 3, 5, 7)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    # Away from the border (where the transposed conv sees zero padding) it is bilinear interpolation.
    torch.testing.assert_close(up(x)[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2])


def test_init_from_parent_keeps_the_parent_prediction():
    parent = _seeded("fcn32s")
    child = build_model("fcn16s").eval()
    child.init_from_parent(parent)
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        p, c = parent(x), child(x)
    torch.testing.assert_close(c["score_pool5"], p["score_pool5"])
    assert c["score_pool4"].abs().sum() == 0  # zero-initialised: the fused map is the upsampled pool5 map


def test_every_parent_is_trained_before_its_child():
    order = list(VARIANTS)
    for v in VARIANTS.values():
        if v.parent is not None:
            assert order.index(v.parent) < order.index(v.name), f"{v.name} needs {v.parent} first"


def test_drop_skips_removes_a_branch():
    model = _seeded("fcn8s")
    for conv in model.score.values():
        torch.nn.init.normal_(conv.weight, std=0.1)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        full, ablated = model(x), model(x, drop_skips=("pool3",))
        torch.testing.assert_close(ablated["fuse_pool4"], full["fuse_pool4"])
        assert not torch.allclose(ablated["out"], full["out"])
        assert ablated["score_pool3"].abs().sum() == 0


def test_torchvision_weights_load_into_the_backbone():
    """The ImageNet option, checked offline: a randomly initialised torchvision vgg16 stands in."""
    from torchvision.models import vgg16

    torch.manual_seed(0)
    with torch.device("meta"):  # its 120M-parameter classifier is never made: only `features` is used
        tv = vgg16(weights=None).eval()
    tv.features.to_empty(device="cpu")
    for p in tv.features.parameters():
        torch.nn.init.normal_(p, std=0.05)
    ours = VGG16Backbone("pool5", *IMAGENET_MEAN_STD).eval()
    load_backbone(ours, torchvision_state_dict(tv))
    x = torch.rand(1, 3, 64, 96)  # multiples of 32: torchvision's floor pools equal our ceil pools
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in IMAGENET_MEAN_STD)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)["pool5"], tv.features((x - mean) / std))


def test_hed_keras_weights_convert_to_rgb_oihw(tmp_path):
    """A file laid out like HED's .weights.h5 (HWIO kernels, BGR input) converts exactly."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    path = tmp_path / "hed.weights.h5"
    layout = [[3, 64, 64], [64, 128, 128], [128, 256, 256, 256], [256, 512, 512, 512], [512, 512, 512, 512]]
    keras = []
    with h5py.File(path, "w") as f:
        for b, chans in enumerate(layout, start=1):
            for j, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
                name = "conv2d" if j == 0 else f"conv2d_{j}"
                w = rng.standard_normal((3, 3, cin, cout)).astype(np.float32) * 0.01
                bias = rng.standard_normal(cout).astype(np.float32)
                f[f"block{b}/layers/{name}/vars/0"] = w
                f[f"block{b}/layers/{name}/vars/1"] = bias
                keras.append((w, bias))
    state = convert_hed_h5(path)
    backbone = VGG16Backbone("pool5")
    load_backbone(backbone, state)
    # conv1_1 on one pixel, the Keras way: BGR input, out[o] = sum_hwi x[h, w, i] * W[h, w, i, o] + b[o].
    w, bias = keras[0]
    patch_rgb = rng.random((3, 3, 3)).astype(np.float32)
    expected = np.einsum("hwi,hwio->o", patch_rgb[..., ::-1], w) + bias
    x = torch.from_numpy(patch_rgb).permute(2, 0, 1)[None]
    got = F.conv2d(x, backbone.features[0].weight, backbone.features[0].bias)[0, :, 0, 0]
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    # A deeper layer: plain HWIO -> OIHW.
    w13 = keras[-1][0]
    np.testing.assert_array_equal(backbone.features[28].weight.detach().numpy(), w13.transpose(3, 2, 0, 1))


def test_unet_backbone_takes_the_layers_it_has():
    full = torchvision_state_dict(VGG16Backbone("pool5"))
    unet = build_model("unet")
    own = unet.backbone.state_dict()
    assert set(own) < set(full), "U-Net's backbone stops before conv5: it has fewer layers than VGG16"
    load_backbone(unet.backbone, full)
    for key, value in unet.backbone.state_dict().items():  # every layer it has, from the full weights
        torch.testing.assert_close(value, full[key], msg=key)
    with pytest.raises(ValueError, match="lack"):  # the other way round is refused, not half-loaded
        load_backbone(VGG16Backbone("pool5"), own)


def _dilations(model) -> list[tuple[int, int]]:
    return [m.dilation for m in model.center.modules() if isinstance(m, torch.nn.Conv2d)]


def test_unet_bottleneck_dilation_comes_from_the_config():
    dilated = build_model("unet")  # the registry's U-Net: dilated bottleneck
    assert _dilations(dilated) == [(2, 2), (4, 4)]
    # A config.json written before the option existed still builds the undilated net it was trained as.
    old_config = {k: v for k, v in VARIANTS["unet"].kwargs.items() if k != "center_dilation"}
    plain = VARIANTS["unet"].cls(**old_config)
    assert _dilations(plain) == [(1, 1), (1, 1)]
    assert dilated.state_dict().keys() == plain.state_dict().keys()  # same weights, wider view
